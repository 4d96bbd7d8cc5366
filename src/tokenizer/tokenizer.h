// The byte-exact EXAONE tokenizer: byte-level BPE that reproduces HF `tokenizers` ids for the pre-tokenizer and
// normalizer a model's tokenizer.json declares (spec section 5), plus a streaming detokenizer.
//
// Invalid UTF-8 in text given to encode() is replaced by U+FFFD first (maximal-subpart rule, the same as Python's
// bytes.decode(errors="replace")), so every input tokenizes and decode(encode(x)) == that cleaned text.
#pragma once
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace exaone {

// An added token (HF `added_tokens` entry): split out of the text before pre-tokenization.
struct AddedTokenSpec {
  std::string content;
  int id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// In-memory description of a tokenizer, e.g. from GGUF `tokenizer.ggml.*` metadata.
struct TokenizerParts {
  std::vector<std::string> tokens;  // id -> token text as stored (byte-level form, e.g. "Ġthe")
  std::vector<std::string> merges;  // "left right", highest priority first
  // GGUF token types per id (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte); empty = all normal.
  // Control tokens become special added tokens, user-defined ones non-special added tokens.
  std::vector<int> token_types;
  // GGUF `tokenizer.ggml.pre`: "exaone" (digits split + GPT-2 regex), "exaone4" / "gpt2" / "default" (GPT-2 regex),
  // "exaone-moe" (the K-EXAONE regex). Anything else is an Error.
  std::string pre = "gpt2";
  std::optional<int> bos_id;
  std::optional<int> eos_id;
};

class Tokenizer {
 public:
  // `dir_or_file`: a model folder holding tokenizer.json, or vocab.json + merges.txt (with optional
  // tokenizer_config.json / special_tokens_map.json for added tokens); or the path of a tokenizer.json.
  // BOS/EOS names come from tokenizer_config.json, special_tokens_map.json or config.json next to it.
  static Tokenizer from_model_path(const std::string& dir_or_file);
  // From the text of a tokenizer.json; `where` names it in error messages.
  static Tokenizer from_json_text(const std::string& json_text, const std::string& where);
  static Tokenizer from_parts(const TokenizerParts& parts);

  // Token ids of `text`; added/special tokens written in the text are recognised (HF add_special_tokens=False).
  // `add_bos` prepends the BOS id (Error if the model declares none).
  std::vector<int> encode(std::string_view text, bool add_bos = false) const;
  // Text of `ids` (ByteLevel decoder); `skip_special` drops special added tokens. Error on an unknown id.
  std::string decode(std::span<const int> ids, bool skip_special = false) const;

  std::optional<int> token_id(std::string_view token) const;
  std::string token_text(int id) const;  // stored form ("Ġthe"); Error on an unknown id
  bool is_special(int id) const;
  int vocab_size() const;  // highest id + 1
  std::optional<int> bos_id() const;
  std::optional<int> eos_id() const;
  const std::vector<AddedTokenSpec>& added_tokens() const;

  // Bytes one token contributes to decode() output (before UTF-8 repair); empty when skipped as special.
  // Error on an unknown id. (Used by StreamingDecoder.)
  std::string_view token_bytes(int id, bool skip_special) const;
  // Separator decode() puts between tokens ("" for ByteLevel; " " when the file declares no decoder).
  std::string_view token_separator() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Incremental detokenization for generation: push() returns only complete UTF-8 characters, so Korean text never
// shows U+FFFD or loses a syllable; flush() returns what is left (an unfinished character becomes U+FFFD).
// The concatenation of all push() results and flush() equals Tokenizer::decode of the same ids.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string push(int id);
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool first_ = true;    // for the " " separator of decoder-less tokenizers
  std::string pending_;  // bytes of an unfinished character (at most 3)
};

}  // namespace exaone

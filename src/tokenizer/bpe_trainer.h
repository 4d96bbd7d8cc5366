// Byte-level BPE training (`exaone tokenizer-train`): learns merges over a corpus exactly as HF `tokenizers`'
// BpeTrainer does with the EXAONE 4.0 pre-tokenizer (ByteLevel, GPT-2 regex, no prefix space, no normalizer), and
// writes a tokenizer folder (tokenizer.json, tokenizer_config.json, chat_template.jinja) that both HF and this
// project's Tokenizer load with the same ids.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/json_file.h"

namespace exaone {

// Special and added tokens, and the files that travel with the tokenizer.
struct TokenizerTrainSpec {
  // Special tokens: ids 0..n-1 in this order (as HF BpeTrainer's `special_tokens`).
  std::vector<AddedTokenSpec> special_tokens;
  // Added, non-special tokens (think/tool tags): ids after the BPE vocabulary, in this order.
  std::vector<AddedTokenSpec> added_tokens;
  json tokenizer_config;      // written as tokenizer_config.json
  std::string chat_template;  // written as chat_template.jinja when not empty
};

// EXAONE 4.0's layout: [PAD] [BOS] [EOS] [UNK] [|system|] [|tool|] [|assistant|] [|user|] [|endofturn|] at ids 0-8,
// the <think>/<tool_call>/<tool_result>/<tool> tags last; its tokenizer_config.json. No chat template.
TokenizerTrainSpec exaone4_train_spec();
// The special (special=true) and added (special=false) tokens of a model folder's tokenizer.json in id order, its
// tokenizer_config.json (its id-bearing `added_tokens_decoder` dropped) and chat_template.jinja. Error when the
// folder has no tokenizer.json.
TokenizerTrainSpec train_spec_from_model(const std::string& dir);

// Pre-tokenized words of a corpus with their counts. Text is read line by line, each line keeping its '\n', and each
// line is pre-tokenized on its own: what HF's Tokenizer.train(files) feeds its trainer. Large texts are counted on
// the thread pool (util/parallel.h); the counts do not depend on the thread count.
class BpeWordCounts {
 public:
  void add_text(std::string_view text);
  // Error naming the file when it cannot be opened or read.
  void add_file(const std::string& path);

  const std::unordered_map<std::string, uint64_t>& counts() const { return counts_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t words() const { return words_; }
  uint64_t invalid_utf8_lines() const { return invalid_lines_; }  // repaired with U+FFFD before pre-tokenizing

 private:
  std::unordered_map<std::string, uint64_t> counts_;  // raw bytes of each pre-token
  uint64_t bytes_ = 0, words_ = 0, invalid_lines_ = 0;
};

struct BpeTrainOptions {
  // Size of the whole tokenizer: special tokens + 256 byte symbols + merges + added tokens (so a model with this
  // vocab_size has no unused rows). Error when smaller than specials + 256 + added.
  size_t vocab_size = 0;
  uint64_t min_frequency = 0;  // a pair seen fewer times is never merged (HF semantics: 0 and 1 are the same)
};

struct TrainedBpe {
  std::vector<std::string> vocab;                            // BPE model vocabulary, id -> byte-level token text
  std::vector<std::pair<std::string, std::string>> merges;   // rank order
  std::vector<AddedTokenSpec> added_tokens;                  // specials and added tokens with their ids
  size_t size() const;                                       // highest id + 1
};

// Error when the vocabulary is too small for the alphabet and the tokens of `spec`, or when the corpus is empty.
TrainedBpe train_bpe(const BpeWordCounts& corpus, const TokenizerTrainSpec& spec, const BpeTrainOptions& options);

// The HF tokenizer.json of a trained model, with EXAONE 4.0's normalizer / pre-tokenizer / post-processor / decoder.
std::string bpe_tokenizer_json(const TrainedBpe& bpe);

// Writes tokenizer.json, tokenizer_config.json and (when the spec has one) chat_template.jinja into `dir` (created).
void write_tokenizer_folder(const TrainedBpe& bpe, const TokenizerTrainSpec& spec, const std::string& dir);

}  // namespace exaone

// Pre-tokenization as HF `tokenizers` does it: a pipeline of steps, each splitting every piece produced by the
// previous one (internal to the tokenizer area).
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace exaone::tok {

// A compiled PCRE2 pattern (UTF + UCP, JIT when available) that behaves like the Oniguruma regexes HF uses:
// \s, \S, \w, \W and \h are rewritten to Oniguruma's Unicode definitions, ^/$ are line anchors (Ruby syntax).
class Regex {
 public:
  // `literal`: the pattern is a plain string to find (HF Split with a String pattern).
  Regex(const std::string& pattern, bool literal, const std::string& where);
  const std::string& source() const { return source_; }

  // Calls fn(start, end) for each match, left to right, like onig's find_iter: an empty match right after the
  // previous match is skipped. `text` must be valid UTF-8.
  template <class F>
  void for_each_match(std::string_view text, F&& fn) const {
    size_t n = text.size(), last_end = 0, last_match_end = SIZE_MAX;
    while (last_end <= n) {
      size_t s, e;
      if (!find(text, last_end, s, e)) break;
      if (s == e && last_match_end == e) {
        last_end += last_end < n ? char_len(text, last_end) : 1;
        continue;
      }
      last_end = e;
      last_match_end = e;
      fn(s, e);
    }
  }

  // True when the whole of `text` is one match (anchored at both ends).
  bool full_match(std::string_view text) const;

 private:
  bool find(std::string_view text, size_t start, size_t& s, size_t& e) const;
  static size_t char_len(std::string_view text, size_t i);
  std::string source_;
  std::shared_ptr<void> code_;  // pcre2_code
  bool jit_ = false;
};

// Rewrites an Oniguruma pattern for PCRE2 (see Regex).
std::string onig_to_pcre2(std::string_view pattern);

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// Owns pieces that are not slices of the input (prefix-space copies, byte-level mapped text).
using PieceArena = std::deque<std::string>;

class PreTokenizer {
 public:
  void add_split(std::shared_ptr<const Regex> re, SplitBehavior behavior, bool invert);
  void add_byte_level(bool add_prefix_space, bool use_regex);

  bool empty() const { return steps_.empty(); }
  // True when the last step is ByteLevel: pieces come out as raw text and the model applies the byte mapping.
  bool model_maps_bytes() const { return !steps_.empty() && steps_.back().kind == Kind::ByteLevel; }

  // Splits `text` (valid UTF-8, non-empty) into non-empty pieces appended to `pieces`; they view `text` or `arena`.
  void split(std::string_view text, std::vector<std::string_view>& pieces, PieceArena& arena) const;

 private:
  enum class Kind { Split, ByteLevel };
  struct Step {
    Kind kind;
    std::shared_ptr<const Regex> regex;  // Split pattern, or the GPT-2 regex for ByteLevel(use_regex)
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;
  };
  std::vector<Step> steps_;
};

// The GPT-2 regex of HF's ByteLevel pre-tokenizer.
const std::shared_ptr<const Regex>& gpt2_regex();

// Splits one piece with a pattern and behaviour exactly like HF NormalizedString::split (empty pieces dropped).
void split_with_behavior(std::string_view piece, const Regex& re, SplitBehavior behavior, bool invert,
                         std::vector<std::string_view>& out);

}  // namespace exaone::tok

// One conversation with a model: its KV cache, the tokens the cache holds, and the decode
// loop (sampling, eos ids, stop strings, token limit, context limit) with streamed text that
// only ever contains whole UTF-8 characters.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/model.h"
#include "runtime/sampler.h"
#include "runtime/speculative.h"
#include "tokenizer/tokenizer.h"

namespace exaone {

struct GenerateOptions {
  SamplingParams sampling;
  int64_t max_tokens = 512;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool stop_at_eos = true;
  // MTP self-speculative decoding (spec.draft > 0; the model needs an MTP layer). Greedy output is
  // token-for-token that of decoding without it when the kernels run batch-invariant
  // (set_batch_invariant: the verify forward then computes each row as a one-token step would).
  SpecOptions spec;
};

struct GenerateResult {
  std::vector<int> tokens;    // generated ids (eos excluded)
  std::string text;           // decoded text up to (not including) a stop string
  std::string finish_reason;  // "stop" (eos or stop string), "length" (max_tokens), "context" (context full)
  int64_t prompt_tokens = 0;
  int64_t reused_tokens = 0;  // prompt tokens whose K/V were already cached
  SpecStats spec;             // speculative decoding: steps, drafted and accepted tokens
};

class Session {
 public:
  Session(Model& model, const Tokenizer& tokenizer, int64_t max_context = 0, DType kv_type = DType::F32);

  // Feeds `prompt` (reusing the longest cached prefix) and generates. `on_text` receives each
  // new piece of text; returning false stops generation (finish_reason "stop").
  GenerateResult generate(const std::vector<int>& prompt, const GenerateOptions& options,
                          const std::function<bool(std::string_view)>& on_text = {});
  void reset();
  int64_t max_context() const { return cache_->max_context(); }
  const std::vector<int>& cached_tokens() const { return tokens_; }
  // The ids generation stops at: eos ids of config/generation_config plus the tokenizer's eos.
  const std::vector<int>& eos_ids() const { return eos_ids_; }

 private:
  // Brings the cache to hold `prompt` minus its last token and returns the logits row of the
  // last token (after feeding it).
  void prefill(const std::vector<int>& prompt, GenerateResult& r, std::vector<float>& logits);
  void feed(std::span<const int32_t> toks, std::vector<float>& logits);

  Model& model_;
  const Tokenizer& tok_;
  std::unique_ptr<KVCache> cache_;
  std::vector<int> tokens_;
  std::vector<int> eos_ids_;
  MtpState mtp_;  // the MTP layer's cache, when speculative decoding has been used
};

// Longest suffix of `text` that is a proper prefix of one of `stops` (held back while streaming).
size_t stop_prefix_overlap(std::string_view text, const std::vector<std::string>& stops);

// Streamed text with stop strings cut out: push() returns what can be shown now (text that may
// start a stop string is held back) and sets `stopped` once a stop string is complete (the text
// before it is returned, nothing after); flush() returns what is held at the end.
class StopStringFilter {
 public:
  explicit StopStringFilter(const std::vector<std::string>& stops) : stops_(stops) {}
  std::string push(std::string_view piece, bool& stopped);
  std::string flush();

 private:
  const std::vector<std::string>& stops_;
  std::string held_;
};

// Prepares `cache`, which holds `cached` tokens, to continue into `prompt`: keeps the longest
// common prefix (less the prompt's last token, which must be fed again for its logits), or clears
// the cache when a sliding layer can no longer go back that far. When it cannot, but the cache has
// a checkpoint (the end of the last prompt) inside the common prefix, it goes back to that instead.
// Trims `cached` to match and returns how many prompt tokens are reused.
size_t reuse_cached_prefix(KVCache& cache, std::vector<int>& cached, const std::vector<int>& prompt);
// Length of the common prefix of two token lists.
size_t common_prefix(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace exaone

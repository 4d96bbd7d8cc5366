// Self-speculative decoding with the model's multi-token-prediction (MTP) layer: the MTP layer
// drafts N tokens from the last hidden state, one forward of N+1 tokens verifies them, and the
// main and MTP KV caches are cut back (truncate) past what was rejected. Greedy output is the
// target's greedy output; with sampling, accepted tokens follow the target distribution (standard
// speculative sampling: accept with min(1, p/q), else resample from norm(max(0, p - q))).
// Token level (no tokenizer), so the Session, `exaone bench` and the server can all drive it.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "models/model.h"
#include "runtime/sampler.h"

namespace exaone {

struct SpecOptions {
  int draft = 0;  // tokens the MTP layer drafts per step; 0: no speculation
};

struct SpecStats {
  int64_t steps = 0;     // verify forwards
  int64_t drafted = 0;   // draft tokens proposed
  int64_t accepted = 0;  // draft tokens accepted
  double acceptance_rate() const { return drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0; }
};

// The MTP layer's side of one sequence. MTP position p holds the pair (h_p, token p + 1), so the
// layer lags the main cache: `pending` holds the main model's hidden states of positions
// cache->n_past() .. main n_past - 1, which it has not consumed yet.
struct MtpState {
  std::unique_ptr<KVCache> cache;
  std::vector<float> pending;
  bool in_sync = true;  // false once the main cache moved on without it (both then restart)
  void reset() {
    if (cache) cache->clear();
    pending.clear();
    in_sync = true;
  }
};

// Decodes one sequence: `tokens` are the ids `cache` holds (the caller's list, which commit()
// extends). Usage: prefill(prompt); then repeatedly id = next(wanted), and commit() to keep it;
// finish() when done, which leaves `cache` (and the MTP state) holding exactly `tokens`.
class SpeculativeDecoder {
 public:
  SpeculativeDecoder(Model& model, KVCache& cache, MtpState& mtp, std::vector<int>& tokens, Sampler& sampler,
                     int n_draft);
  // Brings the caches to hold `prompt` (reusing the longest cached prefix) and returns how many
  // prompt tokens were reused.
  size_t prefill(const std::vector<int>& prompt);
  // The next output token (the same until commit()). `wanted`: tokens the caller may still take,
  // this one included (no drafting beyond them).
  int next(int64_t wanted);
  void commit();
  void finish();
  const SpecStats& stats() const { return stats_; }

 private:
  void step(int64_t wanted);  // feeds the committed, unfed last token: drafts, verifies, accepts
  // MTP layer over the pending pairs of positions mtp.cache->n_past() .. upto - 1 (tokens from
  // tokens_); logits and hidden state of the last one in mtp_logits_ / mtp_hidden_ if `want_last`.
  void mtp_consume(int64_t upto, bool want_last);
  int pick(std::span<const float> logits, std::vector<float>* q);  // draft choice (and its distribution)

  Model& model_;
  KVCache& cache_;
  MtpState& mtp_;
  std::vector<int>& tokens_;
  Sampler& sampler_;
  int n_draft_;
  int64_t H_, V_;
  std::vector<int> generated_;        // committed output ids (presence/frequency penalties)
  std::vector<int> queue_;            // decided output ids not yet committed
  size_t qhead_ = 0;
  std::vector<float> row_;            // target logits for the token after the last fed one
  std::vector<float> logits_, hidden_, mtp_logits_, mtp_hidden_, tmp_, p_;
  std::vector<std::vector<float>> q_;  // draft distributions (sampling)
  std::vector<int32_t> verify_;
  SpecStats stats_;
};

// Speculative-sampling acceptance of one draft token `d` drawn from q: accepted when u < p(d)/q(d);
// otherwise returns the replacement drawn from norm(max(0, p - q)) (from p if that is empty).
// Returns -1 when accepted. `u` and `draw` come from the caller's generator.
int speculative_accept(std::span<const float> p, std::span<const float> q, int d, double u, Sampler& sampler,
                       std::vector<float>& scratch);

}  // namespace exaone

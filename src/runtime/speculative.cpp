#include "runtime/speculative.h"

#include <algorithm>

#include "runtime/session.h"
#include "util/error.h"

namespace exaone {

namespace {
constexpr size_t kChunk = 512;  // rows per forward during prefill (bounded activations)
}

int speculative_accept(std::span<const float> p, std::span<const float> q, int d, double u, Sampler& sampler,
                       std::vector<float>& scratch) {
  const double pd = p[d], qd = q[d];
  if (u * qd < pd) return -1;  // u < p/q (q(d) > 0: d was drawn from q)
  scratch.resize(p.size());
  double total = 0;
  for (size_t i = 0; i < p.size(); ++i) total += (scratch[i] = std::max(0.0f, p[i] - q[i]));
  // p == q leaves nothing (and then u < p/q = 1 always held): only rounding gets here.
  if (!(total > 0)) return sampler.draw(p);
  return sampler.draw(scratch);
}

SpeculativeDecoder::SpeculativeDecoder(Model& model, KVCache& cache, MtpState& mtp, std::vector<int>& tokens,
                                       Sampler& sampler, int n_draft)
    : model_(model), cache_(cache), mtp_(mtp), tokens_(tokens), sampler_(sampler), n_draft_(n_draft),
      H_(model.config().hidden), V_(model.config().vocab_size) {
  if (!model.has_mtp())
    fail("speculative decoding with MTP needs a multi-token-prediction layer (mtp.* tensors); this model has none");
  // Rejected positions are cut back from the sliding rings, which keep KVCache::kRingSlack extra.
  if (n_draft < 1 || n_draft > 64) fail("--draft must be 1..64, got " + std::to_string(n_draft));
  if (!mtp_.cache || mtp_.cache->max_context() != cache.max_context() || mtp_.cache->kv_type() != cache.kv_type()) {
    mtp_.cache = model.new_mtp_cache(cache.max_context(), cache.kv_type());
    mtp_.pending.clear();
    mtp_.in_sync = cache.n_past() == 0;
  }
}

size_t SpeculativeDecoder::prefill(const std::vector<int>& prompt) {
  KVCache& mc = *mtp_.cache;
  auto restart = [&] {
    cache_.clear();
    tokens_.clear();
    mtp_.reset();
  };
  if (!mtp_.in_sync) restart();
  size_t common = reuse_cached_prefix(cache_, tokens_, prompt);
  const int64_t m = mc.n_past();
  if (common == 0) {
    mtp_.reset();
  } else if (m > static_cast<int64_t>(common) - 1) {
    // MTP position common - 1 read token `common`, which the new prompt may change, and its hidden
    // state h_{common-1} is gone: both caches go back one more position and recompute it.
    const int64_t target = static_cast<int64_t>(common) - 1;
    if (mc.truncate(target) && cache_.truncate(target)) {
      tokens_.resize(static_cast<size_t>(target));
      mtp_.pending.clear();
      common = static_cast<size_t>(target);
    } else {
      restart();
      common = 0;
    }
  } else {
    const size_t rows = common - static_cast<size_t>(m);
    if (mtp_.pending.size() < rows * H_) {  // the invariant broke somewhere: start over
      restart();
      common = 0;
    } else {
      mtp_.pending.resize(rows * H_);
    }
  }
  const size_t P = prompt.size();
  for (size_t i = common; i < P; i += kChunk) {
    const size_t n = std::min(kChunk, P - i);
    std::vector<int32_t> chunk(prompt.begin() + static_cast<std::ptrdiff_t>(i),
                               prompt.begin() + static_cast<std::ptrdiff_t>(i + n));
    SequenceChunk c{chunk, &cache_, false};
    model_.forward_hidden({&c, 1}, logits_, hidden_);
    mtp_.pending.insert(mtp_.pending.end(), hidden_.begin(), hidden_.end());
    tokens_.insert(tokens_.end(), chunk.begin(), chunk.end());
    // Pairs whose next token is known (all but the last position) go through the MTP layer now,
    // so `pending` stays one chunk long.
    mtp_consume(static_cast<int64_t>(tokens_.size()) - 1, false);
  }
  row_.assign(logits_.end() - V_, logits_.end());
  cache_.checkpoint();  // the next turn shares this prompt
  queue_.clear();
  qhead_ = 0;
  generated_.clear();
  return common;
}

void SpeculativeDecoder::mtp_consume(int64_t upto, bool want_last) {
  KVCache& mc = *mtp_.cache;
  while (mc.n_past() < upto) {
    const int64_t m = mc.n_past();
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(kChunk), upto - m);
    const bool last = m + n == upto;
    if (mtp_.pending.size() < static_cast<size_t>(n * H_))
      fail("speculative decoding: hidden states of positions " + std::to_string(m) + ".. are missing");
    std::vector<int32_t> next(tokens_.begin() + m + 1, tokens_.begin() + m + 1 + n);
    MtpChunk c{next, mtp_.pending.data(), &mc, last && want_last ? 1 : 0};
    model_.mtp_forward({&c, 1}, mtp_logits_, mtp_hidden_);
    mtp_.pending.erase(mtp_.pending.begin(), mtp_.pending.begin() + n * H_);
  }
}

int SpeculativeDecoder::pick(std::span<const float> logits, std::vector<float>* q) {
  tmp_.assign(logits.begin(), logits.end());
  if (sampler_.greedy()) return sampler_.sample(tmp_, tokens_, generated_);
  sampler_.distribution(tmp_, tokens_, generated_, *q);
  return sampler_.draw(*q);
}

int SpeculativeDecoder::next(int64_t wanted) {
  if (qhead_ < queue_.size()) return queue_[qhead_];
  queue_.clear();
  qhead_ = 0;
  if (static_cast<int64_t>(tokens_.size()) > cache_.n_past()) step(wanted);  // feed the last committed token
  if (queue_.empty()) {  // everything is fed: the next token comes from the target's last logits
    tmp_ = row_;
    queue_.push_back(sampler_.sample(tmp_, tokens_, generated_));
  }
  return queue_[0];
}

void SpeculativeDecoder::commit() {
  if (qhead_ >= queue_.size()) fail("SpeculativeDecoder::commit without next()");
  const int id = queue_[qhead_++];
  tokens_.push_back(id);
  generated_.push_back(id);
}

void SpeculativeDecoder::step(int64_t wanted) {
  const int64_t n = cache_.n_past();  // the last committed token sits at position n, not fed yet
  const int t = tokens_[static_cast<size_t>(n)];
  const int64_t N = std::min<int64_t>({n_draft_, wanted - 1, cache_.max_context() - n - 1});
  if (N <= 0) {  // nothing worth drafting: a plain decode step
    std::vector<int32_t> one{t};
    SequenceChunk c{one, &cache_, false};
    model_.forward_hidden({&c, 1}, logits_, hidden_);
    mtp_.pending.insert(mtp_.pending.end(), hidden_.begin(), hidden_.end());
    row_.assign(logits_.end() - V_, logits_.end());
    return;
  }
  KVCache& mc = *mtp_.cache;
  const bool greedy = sampler_.greedy();
  // Draft: the first MTP step consumes every pending pair (the last one reads t at position n-1)
  // and predicts token n + 1; later steps read the MTP layer's own output hidden state.
  mtp_consume(n, true);
  verify_.assign(1, t);
  q_.resize(static_cast<size_t>(N));
  const size_t base = tokens_.size();
  for (int64_t k = 0; k < N; ++k) {
    if (k > 0) {
      const int32_t prev = verify_.back();
      const std::vector<float> h = mtp_hidden_;
      MtpChunk c{std::span<const int32_t>(&prev, 1), h.data(), &mc, 1};
      model_.mtp_forward({&c, 1}, mtp_logits_, mtp_hidden_);
    }
    const int d = pick(mtp_logits_, greedy ? nullptr : &q_[static_cast<size_t>(k)]);
    verify_.push_back(d);
    tokens_.push_back(d);  // context of the next draft's penalties (taken back below)
    generated_.push_back(d);
  }
  tokens_.resize(base);
  generated_.resize(generated_.size() - static_cast<size_t>(N));
  // Verify: one forward of t and the drafts, logits and hidden states for all of them.
  SequenceChunk c{verify_, &cache_, true};
  model_.forward_hidden({&c, 1}, logits_, hidden_);
  // The MTP positions from n on were computed from drafted hidden states: recomputed from the
  // target's hidden states next step.
  if (!mc.truncate(n)) fail("speculative decoding: the MTP cache cannot go back to position " + std::to_string(n));
  int64_t a = 0;
  int replacement = -1;
  for (; a < N; ++a) {
    const int d = verify_[static_cast<size_t>(a + 1)];
    tmp_.assign(logits_.begin() + a * V_, logits_.begin() + (a + 1) * V_);
    if (greedy) {
      if (sampler_.sample(tmp_, tokens_, generated_) != d) break;
    } else {
      sampler_.distribution(tmp_, tokens_, generated_, p_);
      replacement = speculative_accept(p_, q_[static_cast<size_t>(a)], d, sampler_.uniform(), sampler_, tmp_);
      if (replacement >= 0) break;
    }
    tokens_.push_back(d);  // context of the next check; committed by the caller from the queue
    generated_.push_back(d);
  }
  tokens_.resize(base);
  generated_.resize(generated_.size() - static_cast<size_t>(a));
  stats_.steps++;
  stats_.drafted += N;
  stats_.accepted += a;
  // Keep t and the accepted drafts; their hidden states wait for the MTP layer.
  if (!cache_.truncate(n + 1 + a))
    fail("speculative decoding: the KV cache cannot go back to position " + std::to_string(n + 1 + a));
  mtp_.pending.assign(hidden_.begin(), hidden_.begin() + (a + 1) * H_);
  row_.assign(logits_.begin() + a * V_, logits_.begin() + (a + 1) * V_);
  queue_.assign(verify_.begin() + 1, verify_.begin() + 1 + a);
  if (replacement >= 0) queue_.push_back(replacement);  // not fed yet
}

void SpeculativeDecoder::finish() {
  const int64_t n = cache_.n_past(), c = static_cast<int64_t>(tokens_.size());
  if (c < n) {  // accepted drafts the caller did not take
    if (!cache_.truncate(c)) fail("speculative decoding: the KV cache cannot go back to position " + std::to_string(c));
    const int64_t m = mtp_.cache->n_past();
    if (m >= c) mtp_.in_sync = false;  // cannot happen (the MTP layer lags by a position); restart if it does
    mtp_.pending.resize(static_cast<size_t>(std::max<int64_t>(0, c - m) * H_));
  } else if (c > n) {  // the last committed token was never fed
    tokens_.resize(static_cast<size_t>(n));
  }
  queue_.clear();
  qhead_ = 0;
}

}  // namespace exaone

#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace exaone {

Sampler::Sampler(const SamplingParams& params, int64_t vocab_limit)
    : p_(params), vocab_limit_(vocab_limit), rng_(params.seed) {
  if (!(p_.top_p > 0 && p_.top_p <= 1)) fail("top_p must be in (0, 1], got " + std::to_string(p_.top_p));
  if (!(p_.min_p >= 0 && p_.min_p <= 1)) fail("min_p must be in [0, 1], got " + std::to_string(p_.min_p));
  if (p_.top_k < 0) fail("top_k must be >= 0");
  if (!(p_.repetition_penalty > 0)) fail("repetition_penalty must be positive");
  if (!std::isfinite(p_.temperature)) fail("temperature must be finite");
}

double Sampler::candidates(std::span<float> logits, std::span<const int> context, std::span<const int> generated) {
  const int64_t V = std::min<int64_t>(vocab_limit_, static_cast<int64_t>(logits.size()));
  if (V <= 0) fail("sampler: empty vocabulary");
  if (p_.repetition_penalty != 1.0f) {
    // HF applies the penalty once per distinct token of the context.
    seen_.assign(V, 0);
    for (int id : context)
      if (id >= 0 && id < V && !seen_[id]) {
        seen_[id] = 1;
        float& l = logits[id];
        l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
      }
  }
  if (p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f) {
    counts_.assign(V, 0);
    for (int id : generated)
      if (id >= 0 && id < V) counts_[id]++;
    for (int64_t i = 0; i < V; ++i)
      if (counts_[i]) logits[i] -= p_.presence_penalty + p_.frequency_penalty * static_cast<float>(counts_[i]);
  }
  cand_.clear();
  if (p_.temperature <= 0.0f) {
    int best = 0;
    for (int64_t i = 1; i < V; ++i)
      if (logits[i] > logits[best]) best = static_cast<int>(i);
    cand_.emplace_back(1.0f, best);
    return 1.0;
  }
  for (int64_t i = 0; i < V; ++i)
    if (std::isfinite(logits[i])) cand_.emplace_back(logits[i] / p_.temperature, static_cast<int>(i));
  if (cand_.empty()) fail("sampler: every logit is -inf or NaN");
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < cand_.size()) {
    std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
    cand_.resize(p_.top_k);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // Softmax over the survivors (sorted, highest first).
  const float mx = cand_.front().first;
  double z = 0;
  for (auto& c : cand_) z += (c.first = std::exp(c.first - mx));
  for (auto& c : cand_) c.first = static_cast<float>(c.first / z);
  if (p_.top_p < 1.0f) {
    double cum = 0;
    size_t keep = 0;
    while (keep < cand_.size()) {
      cum += cand_[keep++].first;
      if (cum >= p_.top_p) break;
    }
    cand_.resize(std::max<size_t>(keep, 1));
  }
  if (p_.min_p > 0.0f) {
    const float floor = p_.min_p * cand_.front().first;
    size_t keep = 1;
    while (keep < cand_.size() && cand_[keep].first >= floor) ++keep;
    cand_.resize(keep);
  }
  double total = 0;
  for (const auto& c : cand_) total += c.first;
  return total;
}

double Sampler::uniform() {
  // 53 random bits -> uniform double in [0, 1): identical on every platform for one seed.
  return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

int Sampler::sample(std::span<float> logits, std::span<const int> context, std::span<const int> generated) {
  const double total = candidates(logits, context, generated);
  if (p_.temperature <= 0.0f) return cand_.front().second;
  const double u = uniform() * total;
  double acc = 0;
  for (const auto& c : cand_) {
    acc += c.first;
    if (u < acc) return c.second;
  }
  return cand_.back().second;
}

void Sampler::distribution(std::span<float> logits, std::span<const int> context, std::span<const int> generated,
                           std::vector<float>& probs) {
  const double total = candidates(logits, context, generated);
  probs.assign(static_cast<size_t>(std::min<int64_t>(vocab_limit_, static_cast<int64_t>(logits.size()))), 0.0f);
  for (const auto& c : cand_) probs[c.second] = static_cast<float>(c.first / total);
}

int Sampler::draw(std::span<const float> weights) {
  double total = 0;
  for (float w : weights) total += w;
  if (!(total > 0)) fail("sampler: nothing to draw from");
  const double u = uniform() * total;
  double acc = 0;
  int last = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0) continue;
    acc += weights[i];
    last = static_cast<int>(i);
    if (u < acc) return last;
  }
  return last;
}

}  // namespace exaone

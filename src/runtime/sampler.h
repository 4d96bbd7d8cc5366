// Turns a row of logits into the next token: penalties, temperature, top-k, top-p, min-p,
// then a draw from a seeded generator (same seed and inputs, same tokens).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace exaone {

struct SamplingParams {
  float temperature = 0.0f;         // <= 0: greedy (argmax after penalties)
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // HF style, over prompt + generated tokens; 1: off
  float presence_penalty = 0.0f;    // OpenAI style, over generated tokens
  float frequency_penalty = 0.0f;
  uint64_t seed = 0;
};

class Sampler {
 public:
  // `vocab_limit`: ids at or above it (padding rows of the embedding) are never produced.
  Sampler(const SamplingParams& params, int64_t vocab_limit);
  // `logits` is modified. `context` = prompt + generated (repetition penalty); `generated` =
  // generated only (presence/frequency penalties).
  int sample(std::span<float> logits, std::span<const int> context, std::span<const int> generated);
  const SamplingParams& params() const { return p_; }
  bool greedy() const { return p_.temperature <= 0.0f; }

  // What sample() draws from, for speculative sampling: the probability of every id < the vocab
  // limit, summing to 1 (greedy: 1 on the argmax). `logits` is modified.
  void distribution(std::span<float> logits, std::span<const int> context, std::span<const int> generated,
                    std::vector<float>& probs);
  // A uniform draw in [0, 1) from the sampler's generator.
  double uniform();
  // An id drawn in proportion to `weights` (non-negative, not all zero).
  int draw(std::span<const float> weights);

 private:
  // Penalties, then the candidates sample() draws from in cand_ (unnormalised weights, highest
  // first) and their total; greedy returns the argmax alone.
  double candidates(std::span<float> logits, std::span<const int> context, std::span<const int> generated);
  SamplingParams p_;
  int64_t vocab_limit_;
  std::mt19937_64 rng_;
  std::vector<int> counts_;  // scratch, reused across calls
  std::vector<char> seen_;
  std::vector<std::pair<float, int>> cand_;
};

}  // namespace exaone

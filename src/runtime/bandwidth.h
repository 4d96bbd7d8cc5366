// Memory-read bandwidth and the decode roofline: decode of a dense model reads every weight
// once per token, so its ceiling is bandwidth / bytes of weights read per token.
#pragma once
#include <cstddef>
#include <cstdint>

#include "models/model.h"

namespace exaone {

struct BandwidthResult {
  double best_gb_s = 0;   // fastest pass (10^9 bytes per second)
  double mean_gb_s = 0;   // mean over the timed passes
  size_t buffer_bytes = 0;
  int threads = 0;
  int passes = 0;
};

// Streams `buffer_bytes` (rounded down to 64-byte lines; at least 1 MiB) with `threads` OpenMP
// threads, each reading its own slice, `passes` timed times after one untimed warm-up pass.
// Choose a buffer well above the last-level cache, or the result measures the cache.
BandwidthResult measure_read_bandwidth(size_t buffer_bytes, int threads, int passes = 5);

// Bytes of weights one decode step reads: every stored tensor, except that an untied input
// embedding contributes only the one row it looks up (a tied one is read whole as the output
// matrix), routed experts only the chosen n_experts_used of n_experts, and the MTP layer nothing.
// Counts the storage as it is (quantised blocks, BF16, ...).
size_t decode_weight_bytes_per_token(const Model& model);

// Weights one token multiplies (its matmul parameters, 2 operations each): the matrices of
// decode_weight_bytes_per_token's count, without the input embedding lookup (a tied embedding is
// the head, counted once) and the unchosen experts. Attention scores are not counted.
double matmul_params_per_token(const Model& model);

}  // namespace exaone

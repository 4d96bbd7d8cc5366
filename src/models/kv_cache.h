// Per-sequence key/value cache. Global layers grow with the context; sliding-window layers
// keep a ring buffer of exactly `sliding_window` positions, so their memory stops growing at
// the window. One KVCache per sequence: the server batches many of them.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "models/config.h"

namespace exaone {

class KVCache {
 public:
  // Positions a sliding layer's ring keeps beyond its window, so a cache can be cut back by that
  // many positions (the server's prefix reuse after a short answer, a retried last turn).
  static constexpr int64_t kRingSlack = 256;

  KVCache(const ModelConfig& cfg, int64_t max_context, DType kv_type = DType::F32);

  int64_t n_past() const { return n_past_; }
  int64_t max_context() const { return max_context_; }
  PastKV past(int64_t layer) const;
  // Stores K/V rows of positions n_past()..n_past()+T-1 for one layer (call for every layer,
  // then advance(T) once).
  void store(int64_t layer, const float* k, const float* v, int64_t T);
  void advance(int64_t T) { n_past_ += T; }
  // Rounds T rows of K or V (kv_dim floats each) through the cache's storage type, in place: the
  // chunk's own keys then look to attention exactly as they will once cached, so a sequence's
  // output does not depend on how its tokens were split into chunks. No-op for F32.
  void round_rows(float* rows, int64_t T) const;
  // Frees the memory of a cleared cache (clear() keeps it for reuse).
  void release();
  // Forgets positions >= n. Returns false (and changes nothing) when a sliding layer has
  // already overwritten positions that the next token would need; the caller then clears.
  bool truncate(int64_t n);
  void clear() { n_past_ = 0; }
  size_t bytes_allocated() const;
  // Bytes a cache holding `context` positions needs (for `exaone info`).
  static size_t bytes_for_context(const ModelConfig& cfg, int64_t context, DType kv_type = DType::F32);
  DType kv_type() const { return type_; }

 private:
  struct Layer {
    int64_t ring = 0;    // 0: linear; else ring capacity (window + kRingSlack)
    int64_t window = 0;  // sliding window of the layer
    std::vector<uint8_t> k, v;
  };
  void write_row(uint8_t* dst, const float* src) const;
  int64_t kv_dim_;
  DType type_;
  size_t row_bytes_;
  int64_t max_context_;
  int64_t n_past_ = 0;
  std::vector<Layer> layers_;
};

}  // namespace exaone

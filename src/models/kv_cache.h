// Per-sequence key/value cache. Global layers grow with the context; sliding-window layers
// keep a ring buffer of exactly `sliding_window` positions, so their memory stops growing at
// the window. One KVCache per sequence: the server batches many of them.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "models/config.h"
#include "util/huge_buffer.h"

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
  // already overwritten positions that the next token would need and no checkpoint brings them
  // back; the caller then clears.
  bool truncate(int64_t n);
  // Keeps what the sliding layers' rings hold now (at n_past(), the end of a prompt), so truncate()
  // can come back to any n in [checkpoint - kRingSlack, checkpoint] however long the answer that
  // followed: a ring row is saved the first time it is overwritten after the checkpoint (memory:
  // up to one ring per sliding layer, as rows are overwritten). Why: the next turn of a chat shares
  // its prompt up to about the end of this one, and without the saved rows an answer longer than
  // the slack made it recompute everything. One checkpoint at a time; a later call replaces it,
  // clear() and a truncate below it drop it. No-op without sliding layers.
  void checkpoint();
  int64_t checkpoint_position() const { return checkpoint_; }  // -1 when none
  // Makes this cache hold src's first n positions (same model and KV type), by copying rows: a
  // request whose prompt starts like another slot's (a shared system prompt) then skips computing
  // them. False (and nothing changed) when src no longer holds them: n past src.n_past(), or
  // sliding rings that have overwritten keys position n needs.
  bool copy_prefix_from(const KVCache& src, int64_t n);
  void clear() {
    n_past_ = 0;
    ring_floor_ = 0;
    drop_checkpoint();
  }
  size_t bytes_allocated() const;
  // Bytes a cache holding `context` positions needs (for `exaone info`).
  static size_t bytes_for_context(const ModelConfig& cfg, int64_t context, DType kv_type = DType::F32);
  DType kv_type() const { return type_; }

 private:
  struct Layer {
    int64_t ring = 0;    // 0: linear; else ring capacity (window + kRingSlack)
    int64_t window = 0;  // sliding window of the layer
    std::vector<uint8_t, HugePageAllocator<uint8_t>> k, v;  // huge pages: see HugePageAllocator
    // Ring rows as they were at the checkpoint, saved before their first overwrite.
    std::vector<uint8_t> saved_k, saved_v;
    std::vector<char> saved;  // per ring slot
  };
  // Storage is tiled (PastKV::tiled, kernels/attention.h): a position's row is n_kv_heads pieces.
  size_t offset(int64_t slot, int64_t kvh) const { return kv_offset(true, slot, kvh, head_bytes_, row_bytes_); }
  size_t storage_bytes(int64_t positions) const;  // whole tiles
  void write_row(uint8_t* dst, const float* src, int64_t n) const;  // n contiguous values in the cache type
  void write_position(uint8_t* base, int64_t slot, const float* src) const;
  void copy_position(uint8_t* dst_base, const uint8_t* src_base, int64_t slot) const;
  void save_before_overwrite(Layer& L, int64_t T);
  bool ring_holds(int64_t n, int64_t end) const;
  void reserve_linear(Layer& L, int64_t positions);
  void drop_checkpoint();
  int64_t kv_dim_, head_dim_, n_kv_heads_;
  DType type_;
  size_t row_bytes_, head_bytes_;
  int64_t max_context_;
  int64_t n_past_ = 0;
  int64_t checkpoint_ = -1;
  int64_t ring_floor_ = 0;  // rings hold no valid row below this position (set by copy_prefix_from)
  bool has_ring_ = false;
  std::vector<Layer> layers_;
};

}  // namespace exaone

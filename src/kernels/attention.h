// Causal (optionally sliding-window) grouped-query attention over a sequence's cached past
// plus the chunk being processed now, with an online softmax: no T×T score matrix is built.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "util/dtype.h"

namespace exaone {

// Keys/values of positions before the current chunk, as a KV cache layer stores them:
// row for position p sits at slot p (linear) or p % capacity (ring buffer of a sliding layer).
// Rows are stored as `dtype` (F32, F16, BF16 or Q8_0; Q8_0 needs head_dim % 32 == 0).
//
// Two layouts: plain rows ([slots, n_kv_heads * head_dim]), or tiled (what KVCache stores): slots in
// blocks of kKVTileRows, each block head-major ([n_kv_heads][kKVTileRows][head_dim]). Why tiled:
// decode attention reads one kv head's keys; in plain rows that is one head's slice of every row
// (128 bytes every 1 KiB on the 1.2B shape), which the hardware prefetchers follow badly, so the
// cache streamed at a fraction of the bandwidth; a tile's rows of one head are contiguous.
constexpr int64_t kKVTileRows = 64;
struct PastKV {
  const void* k = nullptr;   // [slots, n_kv_heads * head_dim] of dtype, plain or tiled
  const void* v = nullptr;
  int64_t n_past = 0;        // positions 0..n_past-1 were processed
  int64_t ring = 0;          // 0: linear storage; else ring capacity (holds the last `ring` positions)
  DType dtype = DType::F32;
  bool tiled = false;        // the tiled layout above (storage then spans whole tiles)
};

// Byte offset of kv head `kvh` of `slot` (head_bytes: one head's row; row_bytes: all heads').
inline size_t kv_offset(bool tiled, int64_t slot, int64_t kvh, size_t head_bytes, size_t row_bytes) {
  if (!tiled) return static_cast<size_t>(slot) * row_bytes + static_cast<size_t>(kvh) * head_bytes;
  return static_cast<size_t>(slot / kKVTileRows) * kKVTileRows * row_bytes +
         static_cast<size_t>(kvh * kKVTileRows + slot % kKVTileRows) * head_bytes;
}

struct AttentionShape {
  int64_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t window = 0;  // 0: full causal; else key k visible to query q iff q - window < k <= q
  float scale = 1.0f;
};

// q: [T, n_heads, head_dim] for positions past.n_past .. past.n_past+T-1;
// k_cur/v_cur: [T, n_kv_heads, head_dim] of the same positions; out: [T, n_heads, head_dim].
void attention(const float* q, const float* k_cur, const float* v_cur, int64_t T, const PastKV& past,
               const AttentionShape& s, float* out);

// One sequence's share of a batched call: its chunk of T positions over its own past.
struct AttentionSeq {
  const float* q = nullptr;  // [T, n_heads, head_dim]
  const float* k_cur = nullptr;
  const float* v_cur = nullptr;
  int64_t T = 0;
  PastKV past;
  float* out = nullptr;
};

// attention() for several sequences in one parallel loop over all their (query block, kv head)
// items: a batch of decode tokens is many tiny items, and one loop per sequence and layer cost
// more in thread wake-ups than the work. Each sequence's output is bit-identical to attention()'s.
void attention_batch(std::span<const AttentionSeq> seqs, const AttentionShape& s);

// The decode/prefill attention path attention_batch takes on this CPU ("avx512 tiles ...", "avx2 ...",
// "scalar"), after EXAONE_KERNELS.
const char* attention_kernel_name();

// Plain reference: materialises scores, double precision softmax.
void attention_reference(const float* q, const float* k_cur, const float* v_cur, int64_t T, const PastKV& past,
                         const AttentionShape& s, float* out);

}  // namespace exaone

#include "models/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "kernels/quant.h"
#include "util/error.h"
#include "util/half.h"

namespace exaone {

KVCache::KVCache(const ModelConfig& cfg, int64_t max_context, DType kv_type)
    : kv_dim_(cfg.kv_dim()),
      head_dim_(cfg.head_dim),
      n_kv_heads_(cfg.n_kv_heads),
      type_(kv_type),
      max_context_(max_context),
      layers_(cfg.n_layers) {
  if (kv_type != DType::F32 && kv_type != DType::F16 && kv_type != DType::BF16 && kv_type != DType::Q8_0)
    fail(std::string("KV cache type ") + dtype_name(kv_type) + " is not supported (f32, f16, bf16, q8_0)");
  if (cfg.head_dim % dtype_block_elems(kv_type) != 0)
    fail(std::string("KV cache type ") + dtype_name(kv_type) + " needs head_dim to be a multiple of " +
         std::to_string(dtype_block_elems(kv_type)) + " (head_dim is " + std::to_string(cfg.head_dim) + ")");
  row_bytes_ = dtype_bytes_for(kv_type, kv_dim_);
  head_bytes_ = dtype_bytes_for(kv_type, head_dim_);
  for (int64_t l = 0; l < cfg.n_layers; ++l)
    if (cfg.layer_sliding[l] && cfg.sliding_window > 0) {
      layers_[l].window = cfg.sliding_window;
      layers_[l].ring = cfg.sliding_window + kRingSlack;
      has_ring_ = true;
    }
}

PastKV KVCache::past(int64_t layer) const {
  const Layer& L = layers_[layer];
  return PastKV{L.k.data(), L.v.data(), n_past_, L.ring, type_, true};
}

size_t KVCache::storage_bytes(int64_t positions) const {
  return static_cast<size_t>((positions + kKVTileRows - 1) / kKVTileRows * kKVTileRows) * row_bytes_;
}

void KVCache::write_position(uint8_t* base, int64_t slot, const float* src) const {
  for (int64_t h = 0; h < n_kv_heads_; ++h) write_row(base + offset(slot, h), src + h * head_dim_, head_dim_);
}

void KVCache::copy_position(uint8_t* dst_base, const uint8_t* src_base, int64_t slot) const {
  for (int64_t h = 0; h < n_kv_heads_; ++h) std::memcpy(dst_base + offset(slot, h), src_base + offset(slot, h), head_bytes_);
}

void KVCache::write_row(uint8_t* dst, const float* src, int64_t n) const {
  switch (type_) {
    case DType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<uint16_t*>(dst)[i] = f32_to_f16(src[i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<uint16_t*>(dst)[i] = f32_to_bf16(src[i]);
      return;
    case DType::Q8_0: quantize_row_q8_0(src, dst, n); return;  // n: a multiple of 32 (head_dim is checked)
    default: fail("KV cache: unsupported type");
  }
}

void KVCache::store(int64_t layer, const float* k, const float* v, int64_t T) {
  if (n_past_ + T > max_context_)
    fail("context length " + std::to_string(max_context_) + " reached (" + std::to_string(n_past_ + T) +
         " positions requested)");
  Layer& L = layers_[layer];
  if (L.ring > 0) {
    const size_t need = storage_bytes(std::min(L.ring, max_context_));
    if (L.k.size() < need) {
      L.k.resize(need);
      L.v.resize(need);
    }
    if (checkpoint_ >= 0) save_before_overwrite(L, T);
    const int64_t first = std::max<int64_t>(0, T - L.ring);  // only the last `ring` positions survive
    for (int64_t t = first; t < T; ++t) {
      const int64_t slot = (n_past_ + t) % L.ring;
      write_position(L.k.data(), slot, k + t * kv_dim_);
      write_position(L.v.data(), slot, v + t * kv_dim_);
    }
    return;
  }
  reserve_linear(L, n_past_ + T);
  for (int64_t t = 0; t < T; ++t) {
    write_position(L.k.data(), n_past_ + t, k + t * kv_dim_);
    write_position(L.v.data(), n_past_ + t, v + t * kv_dim_);
  }
}

void KVCache::reserve_linear(Layer& L, int64_t positions) {
  const size_t need = storage_bytes(positions);
  if (L.k.size() >= need) return;
  // Geometric growth bounded by the context limit keeps appends amortised O(1). Whole tiles: a
  // tile's layout does not depend on the capacity, so growing keeps the rows where they are.
  size_t cap = std::max(need, std::min(L.k.size() * 2, storage_bytes(max_context_)));
  cap = std::max(cap, storage_bytes(std::min<int64_t>(256, max_context_)));
  L.k.resize(cap);
  L.v.resize(cap);
}

bool KVCache::copy_prefix_from(const KVCache& src, int64_t n) {
  if (&src == this || n <= 0 || n > src.n_past_ || n > max_context_ || src.row_bytes_ != row_bytes_ ||
      src.type_ != type_ || src.layers_.size() != layers_.size() || !src.ring_holds(n, src.n_past_))
    return false;
  int64_t floor = 0;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& S = src.layers_[l];
    Layer& D = layers_[l];
    if (S.ring != D.ring) return false;  // checked before anything is written: same config, same rings
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& S = src.layers_[l];
    Layer& D = layers_[l];
    if (D.ring == 0) {
      reserve_linear(D, n);  // whole tiles: the rows past n that come along are never read
      std::memcpy(D.k.data(), S.k.data(), storage_bytes(n));
      std::memcpy(D.v.data(), S.v.data(), storage_bytes(n));
      continue;
    }
    const size_t need = storage_bytes(std::min(D.ring, max_context_));
    if (D.k.size() < need) {
      D.k.resize(need);
      D.v.resize(need);
    }
    // The positions before n that src's ring still holds; the same position maps to the same slot.
    const int64_t lo = std::max({src.ring_floor_, src.n_past_ - D.ring, n - D.ring, int64_t{0}});
    for (int64_t p = lo; p < n; ++p) {
      copy_position(D.k.data(), S.k.data(), p % D.ring);
      copy_position(D.v.data(), S.v.data(), p % D.ring);
    }
    floor = std::max(floor, lo);
  }
  drop_checkpoint();
  n_past_ = n;
  ring_floor_ = floor;
  return true;
}

void KVCache::round_rows(float* rows, int64_t T) const {
  if (type_ == DType::F32) return;
  std::vector<uint8_t> buf(row_bytes_);
  for (int64_t t = 0; t < T; ++t) {
    float* r = rows + t * kv_dim_;
    write_row(buf.data(), r, kv_dim_);
    switch (type_) {
      case DType::F16:
        for (int64_t i = 0; i < kv_dim_; ++i) r[i] = f16_to_f32(reinterpret_cast<const uint16_t*>(buf.data())[i]);
        break;
      case DType::BF16:
        for (int64_t i = 0; i < kv_dim_; ++i) r[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(buf.data())[i]);
        break;
      default: dequantize_row_q8_0(buf.data(), r, kv_dim_);
    }
  }
}

void KVCache::release() {
  n_past_ = 0;
  ring_floor_ = 0;
  checkpoint_ = -1;
  for (Layer& L : layers_) {
    decltype(L.k)().swap(L.k);
    decltype(L.v)().swap(L.v);
    std::vector<uint8_t>().swap(L.saved_k);
    std::vector<uint8_t>().swap(L.saved_v);
    std::vector<char>().swap(L.saved);
  }
}

void KVCache::checkpoint() {
  drop_checkpoint();
  if (has_ring_) checkpoint_ = n_past_;
}

void KVCache::drop_checkpoint() {
  if (checkpoint_ < 0) return;
  checkpoint_ = -1;
  for (Layer& L : layers_) std::fill(L.saved.begin(), L.saved.end(), 0);
}

// The rows positions n_past_ .. n_past_ + T - 1 overwrite: saved if they hold a position below the
// checkpoint (the ring's content at the checkpoint) and were not saved yet.
void KVCache::save_before_overwrite(Layer& L, int64_t T) {
  const int64_t first = std::max(n_past_, L.ring);  // earlier positions fill empty slots
  const int64_t last = std::min(n_past_ + T, checkpoint_ + L.ring);  // later ones overwrite post-checkpoint rows
  for (int64_t p = first; p < last; ++p) {
    const int64_t slot = p % L.ring;
    if (L.saved.empty()) {
      L.saved.assign(static_cast<size_t>(L.ring), 0);
      L.saved_k.resize(storage_bytes(L.ring));  // laid out as the ring itself
      L.saved_v.resize(storage_bytes(L.ring));
    }
    if (L.saved[slot]) continue;
    copy_position(L.saved_k.data(), L.k.data(), slot);
    copy_position(L.saved_v.data(), L.v.data(), slot);
    L.saved[slot] = 1;
  }
}

// Whether every ring, holding the positions before `end`, still has the keys position n needs
// (n - window + 1 .. n - 1; a ring holds the last `ring` positions).
bool KVCache::ring_holds(int64_t n, int64_t end) const {
  for (const Layer& L : layers_)
    if (L.ring > 0 && std::max<int64_t>(0, n - L.window + 1) < std::max(ring_floor_, end - L.ring)) return false;
  return true;
}

bool KVCache::truncate(int64_t n) {
  if (n >= n_past_) return n == n_past_;
  if (!ring_holds(n, n_past_)) {
    if (checkpoint_ < 0 || n > checkpoint_ || !ring_holds(n, checkpoint_)) return false;
    for (Layer& L : layers_) {  // the rings as they were at the checkpoint
      for (size_t slot = 0; slot < L.saved.size(); ++slot) {
        if (!L.saved[slot]) continue;
        copy_position(L.k.data(), L.saved_k.data(), static_cast<int64_t>(slot));
        copy_position(L.v.data(), L.saved_v.data(), static_cast<int64_t>(slot));
        L.saved[slot] = 0;
      }
    }
  }
  n_past_ = n;
  // Positions from n on will be written anew: rows saved for them would be stale.
  if (n < checkpoint_) drop_checkpoint();
  return true;
}

size_t KVCache::bytes_allocated() const {
  size_t b = 0;
  for (const Layer& L : layers_) b += L.k.capacity() + L.v.capacity() + L.saved_k.capacity() + L.saved_v.capacity();
  return b;
}

size_t KVCache::bytes_for_context(const ModelConfig& cfg, int64_t context, DType kv_type) {
  size_t b = 0;
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    const int64_t pos =
        (cfg.layer_sliding[l] && cfg.sliding_window > 0) ? std::min(context, cfg.sliding_window + kRingSlack) : context;
    b += 2 * static_cast<size_t>(pos) * dtype_bytes_for(kv_type, cfg.kv_dim());
  }
  return b;
}

}  // namespace exaone

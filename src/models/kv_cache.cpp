#include "models/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "util/error.h"

namespace exaone {

KVCache::KVCache(const ModelConfig& cfg, int64_t max_context)
    : kv_dim_(cfg.kv_dim()), max_context_(max_context), layers_(cfg.n_layers) {
  for (int64_t l = 0; l < cfg.n_layers; ++l)
    if (cfg.layer_sliding[l] && cfg.sliding_window > 0) layers_[l].ring = cfg.sliding_window;
}

PastKV KVCache::past(int64_t layer) const {
  const Layer& L = layers_[layer];
  return PastKV{L.k.data(), L.v.data(), n_past_, L.ring};
}

void KVCache::store(int64_t layer, const float* k, const float* v, int64_t T) {
  if (n_past_ + T > max_context_)
    fail("context length " + std::to_string(max_context_) + " reached (" + std::to_string(n_past_ + T) +
         " positions requested)");
  Layer& L = layers_[layer];
  if (L.ring > 0) {
    const size_t need = static_cast<size_t>(std::min(L.ring, max_context_) * kv_dim_);
    if (L.k.size() < need) {
      L.k.resize(need);
      L.v.resize(need);
    }
    const int64_t first = std::max<int64_t>(0, T - L.ring);  // only the last `ring` positions survive
    for (int64_t t = first; t < T; ++t) {
      const int64_t slot = (n_past_ + t) % L.ring;
      std::memcpy(L.k.data() + slot * kv_dim_, k + t * kv_dim_, kv_dim_ * sizeof(float));
      std::memcpy(L.v.data() + slot * kv_dim_, v + t * kv_dim_, kv_dim_ * sizeof(float));
    }
    return;
  }
  const size_t need = static_cast<size_t>((n_past_ + T) * kv_dim_);
  if (L.k.size() < need) {
    // Geometric growth bounded by the context limit keeps appends amortised O(1).
    size_t cap = std::max(need, std::min(L.k.size() * 2, static_cast<size_t>(max_context_ * kv_dim_)));
    cap = std::max(cap, static_cast<size_t>(std::min<int64_t>(256, max_context_) * kv_dim_));
    L.k.resize(cap);
    L.v.resize(cap);
  }
  std::memcpy(L.k.data() + n_past_ * kv_dim_, k, T * kv_dim_ * sizeof(float));
  std::memcpy(L.v.data() + n_past_ * kv_dim_, v, T * kv_dim_ * sizeof(float));
}

bool KVCache::truncate(int64_t n) {
  if (n >= n_past_) return n == n_past_;
  for (const Layer& L : layers_)
    if (L.ring > 0 && n_past_ > L.ring && n < n_past_ - 1) return false;
  n_past_ = n;
  return true;
}

size_t KVCache::bytes_allocated() const {
  size_t b = 0;
  for (const Layer& L : layers_) b += (L.k.capacity() + L.v.capacity()) * sizeof(float);
  return b;
}

size_t KVCache::bytes_for_context(const ModelConfig& cfg, int64_t context) {
  size_t b = 0;
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    const int64_t pos = (cfg.layer_sliding[l] && cfg.sliding_window > 0) ? std::min(context, cfg.sliding_window) : context;
    b += static_cast<size_t>(2 * pos * cfg.kv_dim()) * sizeof(float);
  }
  return b;
}

}  // namespace exaone

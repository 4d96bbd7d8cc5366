#include "comply/dedup.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "comply/normalize.h"

namespace exaone::comply {

std::string dedup_normalize(std::string_view text) {
  NormalizedText norm(text);
  std::string_view t = norm.text();
  std::string out;
  out.reserve(t.size());
  bool space = false;
  for (char c : t) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

namespace {
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}
uint64_t hash_bytes(std::string_view s, uint64_t seed) {
  uint64_t h = seed ^ (s.size() * 0x9E3779B97F4A7C15ull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    __builtin_memcpy(&w, s.data() + i, 8);
    h = mix64(h ^ w) + 0x9E3779B97F4A7C15ull;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < s.size(); ++k) tail |= uint64_t(static_cast<unsigned char>(s[i + k])) << (8 * k);
  return mix64(h ^ tail ^ 0x27d4eb2f165667c5ull);
}

struct Perms {
  std::vector<uint32_t> a, b;
};
const Perms& perms(int n) {
  static thread_local std::unordered_map<int, Perms> cache;
  auto it = cache.find(n);
  if (it != cache.end()) return it->second;
  Perms p;
  uint64_t state = 0x2545F4914F6CDD1Dull;  // fixed seed: signatures must be stable across runs
  for (int i = 0; i < n; ++i) {
    state = mix64(state + 0x9E3779B97F4A7C15ull);
    p.a.push_back(static_cast<uint32_t>(state) | 1u);
    p.b.push_back(static_cast<uint32_t>(state >> 32));
  }
  return cache.emplace(n, std::move(p)).first->second;
}

inline uint32_t perm_hash(uint32_t a, uint32_t b, uint32_t x) {
  uint32_t v = a * x + b;
  return v ^ (v >> 15);
}

void minhash_scalar(uint32_t* mins, const Perms& p, int n, const uint32_t* xs, size_t nx) {
  for (int i = 0; i < n; ++i) {
    uint32_t m = UINT32_MAX;
    for (size_t k = 0; k < nx; ++k) m = std::min(m, perm_hash(p.a[i], p.b[i], xs[k]));
    mins[i] = m;
  }
}

__attribute__((target("avx2"))) void minhash_avx2(uint32_t* mins, const Perms& p, int n, const uint32_t* xs,
                                                   size_t nx) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {  // two vectors of permutations per pass over the shingles
    __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&p.a[i]));
    __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&p.b[i]));
    __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&p.a[i + 8]));
    __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&p.b[i + 8]));
    __m256i m0 = _mm256_set1_epi32(-1), m1 = m0;
    for (size_t k = 0; k < nx; ++k) {
      __m256i x = _mm256_set1_epi32(static_cast<int>(xs[k]));
      __m256i v0 = _mm256_add_epi32(_mm256_mullo_epi32(a0, x), b0);
      __m256i v1 = _mm256_add_epi32(_mm256_mullo_epi32(a1, x), b1);
      v0 = _mm256_xor_si256(v0, _mm256_srli_epi32(v0, 15));
      v1 = _mm256_xor_si256(v1, _mm256_srli_epi32(v1, 15));
      m0 = _mm256_min_epu32(m0, v0);
      m1 = _mm256_min_epu32(m1, v1);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&mins[i]), m0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&mins[i + 8]), m1);
  }
  for (; i < n; ++i) {
    uint32_t m = UINT32_MAX;
    for (size_t k = 0; k < nx; ++k) m = std::min(m, perm_hash(p.a[i], p.b[i], xs[k]));
    mins[i] = m;
  }
}
}  // namespace

ExactKey exact_key(std::string_view normalized) {
  return {hash_bytes(normalized, 0x6a09e667f3bcc908ull), hash_bytes(normalized, 0xbb67ae8584caa73bull)};
}

std::vector<uint32_t> minhash_signature(std::string_view t, int num_perm, int shingle) {
  // Shingle hashes: each window of `shingle` code points.
  std::vector<size_t> starts;
  starts.reserve(t.size());
  for (size_t i = 0; i < t.size(); i += utf8_len(static_cast<unsigned char>(t[i]))) starts.push_back(i);
  starts.push_back(t.size());
  std::vector<uint32_t> xs;
  size_t ncp = starts.size() - 1;
  if (ncp <= static_cast<size_t>(shingle)) {
    xs.push_back(static_cast<uint32_t>(hash_bytes(t, 1)));
  } else {
    xs.reserve(ncp);
    for (size_t i = 0; i + shingle <= ncp; ++i)
      xs.push_back(static_cast<uint32_t>(hash_bytes(t.substr(starts[i], starts[i + shingle] - starts[i]), 1)));
    // Repeated shingles need no removal: they cannot change a minimum.
  }
  std::vector<uint32_t> sig(num_perm);
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) minhash_avx2(sig.data(), perms(num_perm), num_perm, xs.data(), xs.size());
  else minhash_scalar(sig.data(), perms(num_perm), num_perm, xs.data(), xs.size());
  return sig;
}

double signature_similarity(const uint32_t* a, const uint32_t* b, int n) {
  int same = 0;
  for (int i = 0; i < n; ++i) same += a[i] == b[i];
  return static_cast<double>(same) / n;
}

Deduper::Deduper(const DedupConfig& cfg) : cfg_(cfg) {
  // Pick bands x rows = num_perm whose S-curve threshold (1/b)^(1/r) sits a little below the
  // requested similarity, so candidates are rarely missed; each is then verified on signatures.
  double best = 1e9;
  for (int r = 1; r <= cfg.num_perm; ++r) {
    if (cfg.num_perm % r) continue;
    int b = cfg.num_perm / r;
    double t = std::pow(1.0 / b, 1.0 / r);
    double cost = std::fabs(t - (cfg.threshold - 0.1));
    if (cost < best) {
      best = cost;
      bands_ = b;
      rows_ = r;
    }
  }
  buckets_.resize(bands_);
}

Deduper::Match Deduper::add(uint64_t ordinal, const ExactKey& key, const std::vector<uint32_t>& sig) {
  Match m;
  if (cfg_.exact) {
    auto [it, inserted] = exact_.emplace(key, ordinal);
    if (!inserted) {
      m.exact_of = static_cast<int64_t>(it->second);
      return m;  // identical text: nothing new to index
    }
  }
  if (!cfg_.near || sig.size() != static_cast<size_t>(cfg_.num_perm)) return m;
  std::vector<uint64_t> band_keys(bands_);
  for (int b = 0; b < bands_; ++b)
    band_keys[b] = hash_bytes(std::string_view(reinterpret_cast<const char*>(&sig[b * rows_]), rows_ * 4), b + 7);
  for (int b = 0; b < bands_; ++b) {
    auto it = buckets_[b].find(band_keys[b]);
    if (it == buckets_[b].end()) continue;
    uint64_t cand = it->second;
    if (static_cast<int64_t>(cand) == m.near_of) continue;
    double s = signature_similarity(&sigs_[sig_index_[cand]], sig.data(), cfg_.num_perm);
    if (s >= cfg_.threshold && s > m.similarity) {
      m.near_of = static_cast<int64_t>(cand);
      m.similarity = s;
    }
  }
  for (int b = 0; b < bands_; ++b) buckets_[b].emplace(band_keys[b], ordinal);
  sig_index_[ordinal] = sigs_.size();
  sigs_.insert(sigs_.end(), sig.begin(), sig.end());
  return m;
}

}  // namespace exaone::comply

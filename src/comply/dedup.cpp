#include "comply/dedup.h"

#include <algorithm>
#include <cmath>

#include "comply/normalize.h"

namespace exaone::comply {

std::string dedup_normalize(std::string_view text) {
  NormalizedText norm(text);
  std::string_view t = norm.text();
  std::string out(t.size(), '\0');
  char* o = out.data();
  char* const begin = o;
  bool space = false;
  for (char c : t) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (space && o != begin) *o++ = ' ';
    space = false;
    *o++ = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  out.resize(static_cast<size_t>(o - begin));
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

}  // namespace

ExactKey exact_key(std::string_view normalized) {
  return {hash_bytes(normalized, 0x6a09e667f3bcc908ull), hash_bytes(normalized, 0xbb67ae8584caa73bull)};
}

std::vector<uint32_t> minhash_signature(std::string_view t, int num_perm, int shingle) {
  // One-permutation hashing (Li, Owen & Zhang 2012) with optimal densification (Shrivastava
  // 2017): each shingle is hashed once; the high bits pick one of `num_perm` bins and the low
  // bits compete for that bin's minimum. P(sig_a[i] == sig_b[i]) is the Jaccard similarity, as
  // with k independent permutations, at 1/k of the cost.
  if (num_perm <= 0) return {};
  if (shingle < 1) shingle = 1;
  const uint32_t k = static_cast<uint32_t>(num_perm);
  std::vector<uint32_t> sig(k, UINT32_MAX);
  std::vector<uint8_t> filled(k, 0);
  auto put = [&](uint64_t h) {
    uint32_t bin = static_cast<uint32_t>(((h >> 32) * k) >> 32);
    uint32_t v = static_cast<uint32_t>(h);
    if (v < sig[bin]) sig[bin] = v;
    filled[bin] = 1;
  };
  // A shingle is `shingle` consecutive code points (UTF-8 sequences; stray bytes count alone).
  // Its hash is a polynomial over the sequences' packed bytes, rolled along the text, then mixed.
  constexpr uint64_t kBase = 0x100000001b3ull * 0x9E3779B97F4A7C15ull | 1;
  uint64_t base_pow = 1;  // kBase^shingle: removes the unit leaving the window
  for (int i = 0; i < shingle; ++i) base_pow *= kBase;
  std::vector<uint64_t> ring(static_cast<size_t>(shingle));
  uint64_t roll = 0;
  size_t units = 0;
  const auto* s = reinterpret_cast<const unsigned char*>(t.data());
  for (size_t i = 0; i < t.size();) {
    size_t len = std::min(utf8_len(s[i]), t.size() - i);
    uint64_t u = uint64_t(len) << 32;
    for (size_t b = 0; b < len; ++b) u |= uint64_t(s[i + b]) << (8 * b);
    i += len;
    uint64_t& slot = ring[units % static_cast<size_t>(shingle)];
    roll = roll * kBase + u;
    if (units >= static_cast<size_t>(shingle)) roll -= slot * base_pow;
    slot = u;
    ++units;
    if (units >= static_cast<size_t>(shingle)) put(mix64(roll ^ 0x5851f42d4c957f2dull));
  }
  if (units < static_cast<size_t>(shingle)) put(mix64(roll ^ 0x14057b7ef767814full));  // short text: one shingle
  // Densification: an empty bin borrows the value of a non-empty bin chosen by a hash of (bin,
  // attempt), the same choice for every document, so equal bins still mean equal minima.
  for (uint32_t i = 0; i < k; ++i) {
    if (filled[i]) continue;
    for (uint64_t attempt = 1;; ++attempt) {
      uint64_t h = mix64((uint64_t(i) << 32 | attempt) ^ 0x2545F4914F6CDD1Dull);
      uint32_t j = static_cast<uint32_t>(((h >> 32) * k) >> 32);
      if (filled[j]) {
        sig[i] = sig[j];
        break;
      }
    }
  }
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

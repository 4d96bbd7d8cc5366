#include "comply/dedup.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "comply/normalize.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace exaone::comply {

std::string dedup_normalize(std::string_view text) { return dedup_normalize(NormalizedText(text)); }

std::string dedup_normalize(const NormalizedText& norm) {
  std::string_view t = norm.text();
  const auto* s = reinterpret_cast<const unsigned char*>(t.data());
  const size_t n = t.size();
  // Each input byte yields at most one output byte (a run of whitespace yields one space, and
  // only once a later byte is written), so `out` never outgrows the text it was sized for.
  std::string out(n, '\0');
  char* o = out.data();
  char* const begin = o;
  bool space = false;
  auto flush_space = [&] {
    if (space && o != begin) *o++ = ' ';
    space = false;
  };
  size_t i = 0;
#ifdef __SSE2__
  // 16 bytes at a time: fold ASCII upper case, copy up to the first byte <= 0x20. The store may
  // run past what is kept, but not past the text's length (see above).
  const __m128i upper_bias = _mm_set1_epi8(static_cast<char>(128 - 'A')), upper_limit = _mm_set1_epi8(-128 + 26);
  const __m128i case_bit = _mm_set1_epi8(0x20), blank = _mm_set1_epi8(0x20);
  while (i + 16 <= n) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    __m128i upper = _mm_cmplt_epi8(_mm_add_epi8(v, upper_bias), upper_limit);
    __m128i folded = _mm_or_si128(v, _mm_and_si128(upper, case_bit));
    unsigned low = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, blank), blank)));
    size_t plain = low ? static_cast<size_t>(__builtin_ctz(low)) : 16;
    if (plain) {
      flush_space();
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o), folded);
      o += plain;
      i += plain;
    }
    if (plain < 16) {
      char c = static_cast<char>(s[i++]);  // a byte <= 0x20
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
        space = true;
      } else {
        flush_space();
        *o++ = c;
      }
    }
  }
#endif
  for (; i < n; ++i) {
    char c = static_cast<char>(s[i]);
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    flush_space();
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
  // hash_bytes() with two seeds, in one pass: the two chains are independent, so their
  // multiplications overlap.
  const std::string_view s = normalized;
  uint64_t a = 0x6a09e667f3bcc908ull ^ (s.size() * 0x9E3779B97F4A7C15ull);
  uint64_t b = 0xbb67ae8584caa73bull ^ (s.size() * 0x9E3779B97F4A7C15ull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    __builtin_memcpy(&w, s.data() + i, 8);
    a = mix64(a ^ w) + 0x9E3779B97F4A7C15ull;
    b = mix64(b ^ w) + 0x9E3779B97F4A7C15ull;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < s.size(); ++k) tail |= uint64_t(static_cast<unsigned char>(s[i + k])) << (8 * k);
  return {mix64(a ^ tail ^ 0x27d4eb2f165667c5ull), mix64(b ^ tail ^ 0x27d4eb2f165667c5ull)};
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
  size_t ring_pos = 0;  // units % shingle, without a division per code point
  uint64_t roll = 0;
  size_t units = 0;
  auto step = [&](uint64_t unit) {
    uint64_t& slot = ring[ring_pos];
    if (++ring_pos == ring.size()) ring_pos = 0;
    roll = roll * kBase + unit;
    if (units >= static_cast<size_t>(shingle)) roll -= slot * base_pow;
    slot = unit;
    ++units;
    if (units >= static_cast<size_t>(shingle)) put(mix64(roll ^ 0x5851f42d4c957f2dull));
  };
  // A unit is one sequence's bytes, little-endian, tagged with its length.
  const auto* s = reinterpret_cast<const unsigned char*>(t.data());
  const size_t n = t.size();
  size_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    // While four bytes remain, load them at once and keep the sequence's (no byte loop).
    static constexpr uint32_t kKeep[5] = {0, 0xFFu, 0xFFFFu, 0xFFFFFFu, 0xFFFFFFFFu};
    while (i + 4 <= n) {
      size_t len = utf8_len(s[i]);
      uint32_t word;
      std::memcpy(&word, s + i, 4);
      i += len;
      step(uint64_t(len) << 32 | (word & kKeep[len]));
    }
  }
  while (i < n) {
    size_t len = std::min(utf8_len(s[i]), n - i);
    uint64_t unit = uint64_t(len) << 32;
    for (size_t b = 0; b < len; ++b) unit |= uint64_t(s[i + b]) << (8 * b);
    i += len;
    step(unit);
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

int64_t Deduper::FlatIndex::find(uint64_t key) const {
  if (slots_.empty()) return -1;
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(key);; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.value_plus_one == 0) return -1;
    if (s.key == key) return static_cast<int64_t>(s.value_plus_one - 1);
  }
}

void Deduper::FlatIndex::emplace(uint64_t key, uint64_t value) {
  if ((size_ + 1) * 2 > slots_.size()) grow();  // at most half full: short probe runs
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(key);; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.value_plus_one == 0) {
      s = {key, value + 1};
      ++size_;
      return;
    }
    if (s.key == key) return;
  }
}

void Deduper::FlatIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  size_t capacity = std::max<size_t>(16, old.size() * 2);
  slots_.assign(capacity, Slot());
  shift_ = 64 - std::countr_zero(capacity);
  size_ = 0;
  for (const Slot& s : old)
    if (s.value_plus_one) emplace(s.key, s.value_plus_one - 1);
}

const uint32_t* Deduper::signature(uint64_t number) const {
  return sig_blocks_[number / kBlockSignatures].data() + (number % kBlockSignatures) * cfg_.num_perm;
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
  uint64_t band_keys_small[64];
  std::vector<uint64_t> band_keys_large;
  uint64_t* band_keys = band_keys_small;
  if (bands_ > 64) {
    band_keys_large.resize(bands_);
    band_keys = band_keys_large.data();
  }
  for (int b = 0; b < bands_; ++b)
    band_keys[b] = hash_bytes(std::string_view(reinterpret_cast<const char*>(&sig[b * rows_]), rows_ * 4), b + 7);
  for (int b = 0; b < bands_; ++b) {
    int64_t cand = buckets_[b].find(band_keys[b]);
    if (cand < 0 || cand == m.near_of) continue;
    double s = signature_similarity(signature(static_cast<uint64_t>(sig_index_.find(cand))), sig.data(), cfg_.num_perm);
    if (s >= cfg_.threshold && s > m.similarity) {
      m.near_of = cand;
      m.similarity = s;
    }
  }
  for (int b = 0; b < bands_; ++b) buckets_[b].emplace(band_keys[b], ordinal);
  if (sig_count_ % kBlockSignatures == 0) {
    sig_blocks_.emplace_back();
    sig_blocks_.back().reserve(kBlockSignatures * cfg_.num_perm);
  }
  sig_blocks_.back().insert(sig_blocks_.back().end(), sig.begin(), sig.end());
  sig_index_.emplace(ordinal, sig_count_++);
  return m;
}

}  // namespace exaone::comply

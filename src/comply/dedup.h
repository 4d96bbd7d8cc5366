// Duplicate detection across a corpus: exact duplicates by a 128-bit hash of the normalised
// text (case, width and whitespace folded), near duplicates by MinHash over code-point 5-grams
// (one-permutation hashing with densification) with LSH banding. Streaming: documents are added
// in order and compared with earlier ones.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "comply/normalize.h"

namespace exaone::comply {

// Names the signature scheme; recorded in scan checkpoints so a scan never resumes on
// signatures computed by another scheme.
inline constexpr const char* kMinhashScheme = "oph-densified/1";

struct ExactKey {
  uint64_t a = 0, b = 0;
  bool operator==(const ExactKey& o) const { return a == o.a && b == o.b; }
};

// Text folded for duplicate detection (width, ASCII case, runs of whitespace).
std::string dedup_normalize(std::string_view text);
std::string dedup_normalize(const NormalizedText& norm);  // when the text is already normalised
ExactKey exact_key(std::string_view normalized);
// MinHash signature (num_perm values) of the normalised text's code-point `shingle`-grams.
// Each shingle is hashed once (O(1) per code point whatever num_perm is); text shorter than one
// shingle counts as a single shingle.
std::vector<uint32_t> minhash_signature(std::string_view normalized, int num_perm, int shingle = 5);
double signature_similarity(const uint32_t* a, const uint32_t* b, int num_perm);

struct DedupConfig {
  bool exact = true;
  bool near = true;
  double threshold = 0.8;  // estimated Jaccard similarity that counts as a near duplicate
  int num_perm = 128;
};

class Deduper {
 public:
  explicit Deduper(const DedupConfig& cfg);
  struct Match {
    int64_t exact_of = -1;  // ordinal of the first identical document
    int64_t near_of = -1;   // ordinal of the most similar earlier document above the threshold
    double similarity = 0;
  };
  // `ordinal` must increase by one per call (documents without text are simply never added).
  Match add(uint64_t ordinal, const ExactKey& key, const std::vector<uint32_t>& sig);
  int bands() const { return bands_; }
  int rows() const { return rows_; }

 private:
  struct KeyHash {
    size_t operator()(const ExactKey& k) const { return static_cast<size_t>(k.a ^ (k.b * 0x9E3779B97F4A7C15ull)); }
  };
  // 64-bit keys to 64-bit values in one flat open-addressing table: the index holds bands x
  // documents entries, and a node allocation for each was most of the cost of add().
  class FlatIndex {
   public:
    int64_t find(uint64_t key) const;             // the value, or -1
    void emplace(uint64_t key, uint64_t value);   // keeps the first value stored for a key

   private:
    struct Slot {
      uint64_t key = 0, value_plus_one = 0;  // 0: empty
    };
    size_t home(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
    void grow();
    std::vector<Slot> slots_;
    size_t size_ = 0;
    int shift_ = 64;
  };
  const uint32_t* signature(uint64_t number) const;

  DedupConfig cfg_;
  int bands_ = 0, rows_ = 0;
  std::unordered_map<ExactKey, uint64_t, KeyHash> exact_;
  std::vector<FlatIndex> buckets_;  // per band: band hash -> first ordinal
  FlatIndex sig_index_;             // ordinal -> number of its signature
  // Signatures in fixed blocks, so the store grows without copying what it holds.
  static constexpr size_t kBlockSignatures = 1024;
  std::vector<std::vector<uint32_t>> sig_blocks_;
  uint64_t sig_count_ = 0;
};

}  // namespace exaone::comply

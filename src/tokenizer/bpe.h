// The BPE model of HF `tokenizers` (rank-ordered merges over a vocabulary), with a per-word cache
// (internal to the tokenizer area).
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace exaone::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // `vocab`: token text -> id. `merges`: (left, right) in rank order. `where` names the source for errors.
  BpeModel(TokenMap vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
           const std::string& where);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-token. `raw_bytes`: the piece is raw text and the GPT-2 byte-level mapping is to be
  // applied first (the tokenizer passes the same value on every call).
  void tokenize(std::string_view piece, bool raw_bytes, std::vector<int>& out) const;

  const TokenMap& vocab() const { return vocab_; }

 private:
  struct MergeValue {
    uint32_t rank;
    int32_t new_id;
  };
  // Open-addressing map (left id, right id) -> merge.
  struct MergeTable {
    std::vector<uint64_t> keys;
    std::vector<MergeValue> values;
    uint64_t mask = 0;
    static constexpr uint64_t kEmpty = ~0ull;
    void build(const std::vector<std::pair<uint64_t, MergeValue>>& entries);
    const MergeValue* find(int a, int b) const {
      uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
      for (uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 20;; ++h) {
        uint64_t k = keys[h & mask];
        if (k == key) return &values[h & mask];
        if (k == kEmpty) return nullptr;
      }
    }
  };

  void tokenize_uncached(std::string_view piece, bool raw_bytes, std::vector<int>& out) const;
  void initial_symbols(std::string_view word, std::vector<int>& ids) const;
  void merge_all(std::vector<int>& ids) const;

  TokenMap vocab_;
  BpeOptions options_;
  MergeTable merges_;
  int byte_ids_[256];          // id of the byte-level character of each byte, -1 if absent
  bool fast_bytes_ = false;    // all 256 byte characters present and no prefix/suffix: map bytes directly

  static constexpr size_t kCacheCapacity = 200000;
  static constexpr size_t kMaxCachedWord = 256;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int>, StringHash, std::equal_to<>> cache_;
};

}  // namespace exaone::tok

#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace exaone::tok {

void BpeModel::MergeTable::build(const std::vector<std::pair<uint64_t, MergeValue>>& entries) {
  size_t cap = 16;
  while (cap < entries.size() * 2 + 16) cap <<= 1;
  keys.assign(cap, kEmpty);
  values.assign(cap, MergeValue{0, 0});
  mask = cap - 1;
  for (const auto& [key, value] : entries) {
    for (uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 20;; ++h) {
      uint64_t& k = keys[h & mask];
      if (k == kEmpty || k == key) {  // a repeated pair keeps the later merge, as HF's HashMap collect does
        k = key;
        values[h & mask] = value;
        break;
      }
    }
  }
}

BpeModel::BpeModel(TokenMap vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options, const std::string& where)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  auto lookup = [&](const std::string& token, size_t rank) {
    auto it = vocab_.find(token);
    if (it == vocab_.end())
      fail(where + ": merge " + std::to_string(rank + 1) + ": token '" + token + "' is not in the vocabulary");
    return it->second;
  };
  const size_t prefix_len = options_.continuing_subword_prefix.size();
  std::vector<std::pair<uint64_t, MergeValue>> entries;
  entries.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    int a_id = lookup(a, rank);
    int b_id = lookup(b, rank);
    if (b.size() < prefix_len)
      fail(where + ": merge " + std::to_string(rank + 1) + ": '" + b + "' is shorter than the subword prefix");
    int new_id = lookup(a + b.substr(prefix_len), rank);
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a_id)) << 32) | static_cast<uint32_t>(b_id);
    entries.push_back({key, MergeValue{static_cast<uint32_t>(rank), new_id}});
  }
  merges_.build(entries);

  if (options_.unk_token && !vocab_.count(*options_.unk_token))
    fail(where + ": unk_token '" + *options_.unk_token + "' is not in the vocabulary");

  const auto& table = unicode::byte_to_unicode();
  fast_bytes_ = options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty();
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    unicode::append_utf8(ch, table[b]);
    auto it = vocab_.find(ch);
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
    if (byte_ids_[b] < 0) fast_bytes_ = false;
  }
}

// HF BPE::merge_word: one symbol per character (with prefix/suffix), unknown characters through byte fallback or
// the unk token (fused if asked), or dropped when there is neither.
void BpeModel::initial_symbols(std::string_view word, std::vector<int>& ids) const {
  int unk = -1;  // pending unk symbol id (fuse_unk merges consecutive ones)
  std::string key;
  for (size_t i = 0; i < word.size();) {
    size_t len = unicode::valid_sequence_length(word, i);
    if (len == 0) len = 1;
    bool is_first = i == 0, is_last = i + len >= word.size();
    key.clear();
    if (!is_first) key += options_.continuing_subword_prefix;
    key.append(word.substr(i, len));
    if (is_last) key += options_.end_of_word_suffix;
    i += len;
    auto it = vocab_.find(key);
    if (it != vocab_.end()) {
      if (unk >= 0) {
        ids.push_back(unk);
        unk = -1;
      }
      ids.push_back(it->second);
      continue;
    }
    if (options_.byte_fallback) {
      std::vector<int> bytes;
      for (unsigned char b : key) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        auto bit = vocab_.find(std::string_view(name));
        if (bit == vocab_.end()) break;
        bytes.push_back(bit->second);
      }
      if (bytes.size() == key.size()) {
        ids.insert(ids.end(), bytes.begin(), bytes.end());
        continue;
      }
    }
    if (options_.unk_token) {
      int unk_id = vocab_.find(*options_.unk_token)->second;
      if (unk >= 0 && !options_.fuse_unk) ids.push_back(unk);
      unk = unk_id;
    }
  }
  if (unk >= 0) ids.push_back(unk);
}

// HF Word::merge_all: repeatedly apply the lowest-rank merge (leftmost on ties) using a heap of candidates;
// stale candidates are recognised by re-checking the pair.
void BpeModel::merge_all(std::vector<int>& ids) const {
  const size_t n = ids.size();
  if (n < 2) return;
  struct Symbol {
    int id;
    int prev, next;
    bool removed;
  };
  struct Candidate {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Candidate> heap;
  sym.resize(n);
  heap.clear();
  for (size_t i = 0; i < n; ++i)
    sym[i] = Symbol{ids[i], static_cast<int>(i) - 1, i + 1 < n ? static_cast<int>(i + 1) : -1, false};
  auto greater = std::greater<Candidate>();
  for (size_t i = 0; i + 1 < n; ++i)
    if (const MergeValue* m = merges_.find(sym[i].id, sym[i + 1].id))
      heap.push_back(Candidate{m->rank, static_cast<uint32_t>(i), m->new_id});
  std::make_heap(heap.begin(), heap.end(), greater);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), greater);
    Candidate top = heap.back();
    heap.pop_back();
    Symbol& cur = sym[top.pos];
    if (cur.removed || cur.next < 0) continue;
    Symbol& right = sym[cur.next];
    const MergeValue* m = merges_.find(cur.id, right.id);
    if (!m || m->new_id != top.new_id) continue;  // stale
    cur.id = top.new_id;
    right.removed = true;
    cur.next = right.next;
    if (cur.next >= 0) sym[cur.next].prev = static_cast<int>(top.pos);
    if (cur.prev >= 0) {
      if (const MergeValue* pm = merges_.find(sym[cur.prev].id, cur.id)) {
        heap.push_back(Candidate{pm->rank, static_cast<uint32_t>(cur.prev), pm->new_id});
        std::push_heap(heap.begin(), heap.end(), greater);
      }
    }
    if (cur.next >= 0) {
      if (const MergeValue* nm = merges_.find(cur.id, sym[cur.next].id)) {
        heap.push_back(Candidate{nm->rank, top.pos, nm->new_id});
        std::push_heap(heap.begin(), heap.end(), greater);
      }
    }
  }
  ids.clear();
  for (size_t i = 0; i < n; ++i)
    if (!sym[i].removed) ids.push_back(sym[i].id);
}

void BpeModel::tokenize_uncached(std::string_view piece, bool raw_bytes, std::vector<int>& out) const {
  thread_local std::vector<int> ids;
  thread_local std::string mapped;
  ids.clear();
  std::string_view word = piece;
  if (raw_bytes && (!fast_bytes_ || options_.ignore_merges)) {
    const auto& table = unicode::byte_to_unicode();
    mapped.clear();
    for (unsigned char b : piece) unicode::append_utf8(mapped, table[b]);
    word = mapped;
  }
  if (options_.ignore_merges) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (raw_bytes && fast_bytes_) {
    for (unsigned char b : piece) ids.push_back(byte_ids_[b]);
  } else {
    initial_symbols(word, ids);
  }
  merge_all(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeModel::tokenize(std::string_view piece, bool raw_bytes, std::vector<int>& out) const {
  if (piece.empty()) return;
  if (piece.size() > kMaxCachedWord) {
    tokenize_uncached(piece, raw_bytes, out);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t from = out.size();
  tokenize_uncached(piece, raw_bytes, out);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(piece), std::vector<int>(out.begin() + from, out.end()));
}

}  // namespace exaone::tok

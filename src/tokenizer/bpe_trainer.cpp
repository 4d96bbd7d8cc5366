#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <queue>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "util/parallel.h"

namespace exaone {

namespace {

AddedTokenSpec token(const std::string& content, bool special) {
  AddedTokenSpec t;
  t.content = content;
  t.special = special;
  return t;
}

const char* kExaone4Specials[] = {"[PAD]", "[BOS]", "[EOS]", "[UNK]", "[|system|]", "[|tool|]", "[|assistant|]",
                                  "[|user|]", "[|endofturn|]"};
const char* kExaone4Tags[] = {"<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_result>",
                              "</tool_result>", "<tool>", "</tool>"};

json exaone4_tokenizer_config() {
  json c;
  c["tokenizer_class"] = "GPT2Tokenizer";
  c["bos_token"] = "[BOS]";
  c["eos_token"] = "[|endofturn|]";
  c["pad_token"] = "[PAD]";
  c["unk_token"] = "[UNK]";
  c["add_bos_token"] = false;
  c["add_eos_token"] = false;
  c["add_prefix_space"] = false;
  c["clean_up_tokenization_spaces"] = false;
  c["model_max_length"] = 2048;
  return c;
}

const tok::PreTokenizer& exaone4_pretokenizer() {
  static const tok::PreTokenizer pre = [] {
    tok::PreTokenizer p;
    p.add_byte_level(/*add_prefix_space=*/false, /*use_regex=*/true);
    return p;
  }();
  return pre;
}

// A pair of symbol ids as one key; its integer order is the lexicographic order of (left, right), which is the
// tie-break HF uses (smaller pair first).
inline uint64_t pair_key(uint32_t a, uint32_t b) { return (static_cast<uint64_t>(a) << 32) | b; }

struct PairHash {
  size_t operator()(uint64_t k) const {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
};

// A queue entry as HF's `Merge`: the count it was pushed with and the words that held the pair then.
struct QueueEntry {
  uint64_t count;
  uint64_t pair;
  uint32_t pos;  // index into the position lists
};
struct QueueLess {
  bool operator()(const QueueEntry& x, const QueueEntry& y) const {
    if (x.count != y.count) return x.count < y.count;
    return x.pair > y.pair;  // equal counts: the smaller pair comes out first
  }
};

}  // namespace

TokenizerTrainSpec exaone4_train_spec() {
  TokenizerTrainSpec s;
  for (const char* t : kExaone4Specials) s.special_tokens.push_back(token(t, true));
  for (const char* t : kExaone4Tags) s.added_tokens.push_back(token(t, false));
  s.tokenizer_config = exaone4_tokenizer_config();
  return s;
}

TokenizerTrainSpec train_spec_from_model(const std::string& dir) {
  namespace fs = std::filesystem;
  std::string tj_path = (fs::path(dir) / "tokenizer.json").string();
  if (!fs::exists(tj_path)) fail("--special-tokens-from " + dir + ": no tokenizer.json there");
  json tj = read_json_file(tj_path);
  TokenizerTrainSpec s;
  if (tj.contains("added_tokens")) {
    if (!tj["added_tokens"].is_array()) fail(tj_path + ": field 'added_tokens': expected an array");
    std::vector<AddedTokenSpec> all;
    for (size_t i = 0; i < tj["added_tokens"].size(); ++i) {
      const json& e = tj["added_tokens"][i];
      std::string where = tj_path + ": added_tokens[" + std::to_string(i) + "]";
      auto content = opt_string(e, "content", where);
      if (!content || content->empty()) fail(where + ": field 'content': expected a non-empty string");
      AddedTokenSpec t;
      t.content = *content;
      t.id = static_cast<int>(get_int(e, "id", where));
      t.single_word = opt_bool(e, "single_word", where).value_or(false);
      t.lstrip = opt_bool(e, "lstrip", where).value_or(false);
      t.rstrip = opt_bool(e, "rstrip", where).value_or(false);
      t.normalized = opt_bool(e, "normalized", where).value_or(false);
      t.special = opt_bool(e, "special", where).value_or(false);
      all.push_back(t);
    }
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    for (auto& t : all) {
      t.id = -1;
      (t.special ? s.special_tokens : s.added_tokens).push_back(t);
    }
  }
  std::string cfg_path = (fs::path(dir) / "tokenizer_config.json").string();
  if (fs::exists(cfg_path)) {
    s.tokenizer_config = read_json_file(cfg_path);
    if (!s.tokenizer_config.is_object()) fail(cfg_path + ": expected a JSON object");
    // Its ids belong to the old vocabulary; tokenizer.json carries the new ones.
    s.tokenizer_config.erase("added_tokens_decoder");
  } else {
    s.tokenizer_config = exaone4_tokenizer_config();
  }
  std::string tpl = (fs::path(dir) / "chat_template.jinja").string();
  if (fs::exists(tpl)) s.chat_template = read_text_file(tpl);
  return s;
}

namespace {

struct LineCounter {
  std::unordered_map<std::string, uint64_t>& counts;
  uint64_t bytes = 0, words = 0, invalid_lines = 0;

  void line(std::string_view line) {
    bytes += line.size();
    std::string repaired;
    if (!unicode::is_valid_utf8(line)) {
      ++invalid_lines;
      repaired = unicode::to_valid_utf8(line);
      line = repaired;
    }
    if (line.empty()) return;
    thread_local std::vector<std::string_view> pieces;
    thread_local std::string key;
    tok::PieceArena arena;
    pieces.clear();
    exaone4_pretokenizer().split(line, pieces, arena);
    for (std::string_view p : pieces) {
      ++words;
      key.assign(p);
      ++counts[key];
    }
  }
  void text(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
      size_t j = text.find('\n', i);
      size_t end = j == std::string_view::npos ? text.size() : j + 1;
      line(text.substr(i, end - i));
      i = end;
    }
  }
};

}  // namespace

void BpeWordCounts::add_text(std::string_view text) {
  // Line-aligned slices counted on the pool's threads into maps of their own, then summed: the same counts as one
  // thread (pre-tokenization is per line), so the merges do not depend on the thread count.
  constexpr size_t kSlice = 1 << 20;
  size_t slices = std::min<size_t>(static_cast<size_t>(num_threads()) * 2, text.size() / kSlice);
  if (slices < 2) {
    LineCounter c{counts_};
    c.text(text);
    bytes_ += c.bytes, words_ += c.words, invalid_lines_ += c.invalid_lines;
    return;
  }
  std::vector<size_t> cut{0};
  for (size_t k = 1; k < slices; ++k) {
    size_t at = text.find('\n', std::max(cut.back(), text.size() * k / slices));
    if (at == std::string_view::npos) break;
    cut.push_back(at + 1);
  }
  cut.push_back(text.size());
  size_t n = cut.size() - 1;
  std::vector<std::unordered_map<std::string, uint64_t>> maps(n);
  std::vector<LineCounter> counters;
  for (size_t k = 0; k < n; ++k) counters.push_back(LineCounter{maps[k]});
  parallel_for(static_cast<int64_t>(n), 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) counters[k].text(text.substr(cut[k], cut[k + 1] - cut[k]));
  });
  for (size_t k = 0; k < n; ++k) {
    for (auto& [w, c] : maps[k]) counts_[w] += c;
    bytes_ += counters[k].bytes, words_ += counters[k].words, invalid_lines_ += counters[k].invalid_lines;
  }
}

void BpeWordCounts::add_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("--data " + path + ": no such file");
  if (fs::is_directory(path, ec)) fail("--data " + path + ": is a directory, expected a text file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("--data " + path + ": cannot open");
  // Chunks split at the last newline, so lines are never cut.
  std::string buf, carry;
  std::vector<char> chunk(1 << 24);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    std::streamsize got = in.gcount();
    if (got <= 0) break;
    buf.assign(carry);
    buf.append(chunk.data(), static_cast<size_t>(got));
    size_t last = buf.rfind('\n');
    if (last == std::string::npos) {
      carry.swap(buf);
      continue;
    }
    add_text(std::string_view(buf).substr(0, last + 1));
    carry.assign(buf, last + 1, std::string::npos);
  }
  if (in.bad()) fail("--data " + path + ": read error");
  if (!carry.empty()) add_text(carry);
}

size_t TrainedBpe::size() const {
  size_t n = vocab.size();
  for (const auto& t : added_tokens) n = std::max(n, static_cast<size_t>(t.id) + 1);
  return n;
}

TrainedBpe train_bpe(const BpeWordCounts& corpus, const TokenizerTrainSpec& spec, const BpeTrainOptions& options) {
  size_t fixed = spec.special_tokens.size() + 256 + spec.added_tokens.size();
  if (options.vocab_size < fixed)
    fail("--vocab-size " + std::to_string(options.vocab_size) + ": smaller than the 256 byte symbols + " +
         std::to_string(spec.special_tokens.size()) + " special + " + std::to_string(spec.added_tokens.size()) +
         " added tokens (" + std::to_string(fixed) + ")");
  if (corpus.counts().empty()) fail("--data: the corpus is empty (no text to learn from)");
  // The BPE model's own target size, as HF's BpeTrainer counts it (added tokens come after).
  const size_t target = options.vocab_size - spec.added_tokens.size();

  std::vector<std::string> id_to_word;
  std::unordered_map<std::string, uint32_t> word_to_id;
  auto add_word = [&](const std::string& s) {
    if (word_to_id.count(s)) return;
    word_to_id.emplace(s, static_cast<uint32_t>(id_to_word.size()));
    id_to_word.push_back(s);
  };
  // 1. specials, 2. the byte-level alphabet in code point order (all 256 are in the initial alphabet, so every
  // text encodes and the order does not depend on the corpus).
  for (const auto& t : spec.special_tokens) add_word(t.content);
  const auto& b2u = unicode::byte_to_unicode();
  std::vector<std::pair<char32_t, int>> alphabet;
  for (int b = 0; b < 256; ++b) alphabet.push_back({b2u[b], b});
  std::sort(alphabet.begin(), alphabet.end());
  uint32_t byte_id[256];
  for (const auto& [cp, b] : alphabet) {
    std::string s;
    unicode::append_utf8(s, cp);
    add_word(s);
    byte_id[b] = word_to_id.at(s);
  }

  // 3. words as symbol ids; sorted so that word indices (and so everything below) do not depend on hash order.
  std::vector<const std::pair<const std::string, uint64_t>*> entries;
  entries.reserve(corpus.counts().size());
  for (const auto& e : corpus.counts()) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::vector<std::vector<uint32_t>> words(entries.size());
  std::vector<uint64_t> counts(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& w = entries[i]->first;
    counts[i] = entries[i]->second;
    words[i].reserve(w.size());
    for (unsigned char c : w) words[i].push_back(byte_id[c]);
  }
  entries.clear();

  // 4. pair counts and the words holding each pair.
  std::unordered_map<uint64_t, int64_t, PairHash> pair_counts;
  std::unordered_map<uint64_t, std::vector<uint32_t>, PairHash> where;
  pair_counts.reserve(1 << 16);
  for (uint32_t i = 0; i < words.size(); ++i) {
    const auto& w = words[i];
    for (size_t k = 0; k + 1 < w.size(); ++k) {
      uint64_t p = pair_key(w[k], w[k + 1]);
      pair_counts[p] += static_cast<int64_t>(counts[i]);
      auto& v = where[p];
      if (v.empty() || v.back() != i) v.push_back(i);
    }
  }
  std::vector<std::vector<uint32_t>> positions;
  std::priority_queue<QueueEntry, std::vector<QueueEntry>, QueueLess> queue;
  auto flush_where = [&] {
    for (auto& [p, pos] : where) {
      int64_t c = pair_counts[p];
      if (c > 0) {
        positions.push_back(std::move(pos));
        queue.push(QueueEntry{static_cast<uint64_t>(c), p, static_cast<uint32_t>(positions.size() - 1)});
      }
    }
    where.clear();
  };
  flush_where();

  // 5. merges: the most frequent pair first; a popped entry whose count is stale goes back with the current one.
  // Like HF, the merged pair's own count is left as it was (its entry is consumed), and only pairs that gained
  // occurrences are pushed again.
  std::vector<std::pair<uint64_t, uint32_t>> merges;
  std::vector<std::pair<uint64_t, int>> changes;
  while (word_to_id.size() < target && !queue.empty()) {
    QueueEntry top = queue.top();
    queue.pop();
    int64_t current = pair_counts[top.pair];
    if (top.count != static_cast<uint64_t>(current)) {
      top.count = static_cast<uint64_t>(current);
      queue.push(top);
      continue;
    }
    if (top.count < 1 || options.min_frequency > top.count) break;
    uint32_t a = static_cast<uint32_t>(top.pair >> 32), b = static_cast<uint32_t>(top.pair);
    std::string new_token = id_to_word[a] + id_to_word[b];
    add_word(new_token);
    uint32_t new_id = word_to_id.at(new_token);
    merges.push_back({top.pair, new_id});

    std::vector<uint32_t> pos = std::move(positions[top.pos]);
    positions[top.pos] = {};
    for (uint32_t i : pos) {
      auto& s = words[i];
      size_t n = s.size();
      if (n < 2) continue;
      changes.clear();
      // Left-to-right, non-overlapping, as HF's Word::merge; `s[wr-1]` is the (possibly merged) symbol before.
      size_t wr = 0, r = 0;
      while (r < n) {
        if (r + 1 < n && s[r] == a && s[r + 1] == b) {
          if (wr > 0) {
            changes.push_back({pair_key(s[wr - 1], a), -1});
            changes.push_back({pair_key(s[wr - 1], new_id), 1});
          }
          if (r + 2 < n) {
            changes.push_back({pair_key(b, s[r + 2]), -1});
            changes.push_back({pair_key(new_id, s[r + 2]), 1});
          }
          s[wr++] = new_id;
          r += 2;
        } else {
          s[wr++] = s[r++];
        }
      }
      s.resize(wr);
      int64_t cnt = static_cast<int64_t>(counts[i]);
      for (const auto& [p, d] : changes) {
        pair_counts[p] += d * cnt;
        if (d > 0) {
          auto& v = where[p];
          if (v.empty() || v.back() != i) v.push_back(i);
        }
      }
    }
    flush_where();
  }

  // Ranks as HF stores them: a pair merged twice (possible when a token string is re-formed) keeps its last rank.
  std::unordered_map<uint64_t, size_t, PairHash> last_rank;
  for (size_t r = 0; r < merges.size(); ++r) last_rank[merges[r].first] = r;
  TrainedBpe out;
  for (size_t r = 0; r < merges.size(); ++r) {
    if (last_rank[merges[r].first] != r) continue;
    uint64_t p = merges[r].first;
    out.merges.push_back({id_to_word[p >> 32], id_to_word[static_cast<uint32_t>(p)]});
  }
  out.vocab = std::move(id_to_word);
  for (auto t : spec.special_tokens) {
    t.id = static_cast<int>(word_to_id.at(t.content));
    out.added_tokens.push_back(t);
  }
  int next = static_cast<int>(out.vocab.size());
  for (auto t : spec.added_tokens) {
    bool dup = false;
    for (const auto& u : out.added_tokens) dup |= u.content == t.content;
    if (dup) continue;
    auto it = word_to_id.find(t.content);
    t.id = it != word_to_id.end() ? static_cast<int>(it->second) : next++;
    out.added_tokens.push_back(t);
  }
  return out;
}

std::string bpe_tokenizer_json(const TrainedBpe& bpe) {
  // Written by hand around nlohmann pieces: an ordered_json object looks keys up linearly, which is quadratic for
  // a large vocabulary. Layout as HF writes it: vocab in id order, merges as pairs in rank order.
  auto q = [](const std::string& s) { return json(s).dump(); };
  std::string o = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [";
  std::vector<AddedTokenSpec> sorted = bpe.added_tokens;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  auto b = [](bool v) { return v ? "true" : "false"; };
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& t = sorted[i];
    o += i ? ",\n    " : "\n    ";
    o += "{\"id\": " + std::to_string(t.id) + ", \"content\": " + q(t.content) + ", \"single_word\": " +
         b(t.single_word) + ", \"lstrip\": " + b(t.lstrip) + ", \"rstrip\": " + b(t.rstrip) +
         ", \"normalized\": " + b(t.normalized) + ", \"special\": " + b(t.special) + "}";
  }
  o += sorted.empty() ? "],\n" : "\n  ],\n";
  // EXAONE 4.0's declaration, as in its tokenizer.json.
  o += "  \"normalizer\": null,\n"
       "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
       "\"use_regex\": true},\n"
       "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, "
       "\"use_regex\": true},\n"
       "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
       "\"use_regex\": true},\n"
       "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
       "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
       "    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {";
  for (size_t i = 0; i < bpe.vocab.size(); ++i) {
    o += i ? ",\n      " : "\n      ";
    o += q(bpe.vocab[i]) + ": " + std::to_string(i);
  }
  o += "\n    },\n    \"merges\": [";
  for (size_t i = 0; i < bpe.merges.size(); ++i) {
    o += i ? ",\n      " : "\n      ";
    o += "[" + q(bpe.merges[i].first) + ", " + q(bpe.merges[i].second) + "]";
  }
  o += bpe.merges.empty() ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n";
  return o;
}

void write_tokenizer_folder(const TrainedBpe& bpe, const TokenizerTrainSpec& spec, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) fail("-o " + dir + ": cannot create the folder");
  auto write = [&](const std::string& name, const std::string& text) {
    std::string path = (fs::path(dir) / name).string();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f) fail("-o " + dir + ": cannot write " + name);
  };
  write("tokenizer.json", bpe_tokenizer_json(bpe));
  write("tokenizer_config.json", spec.tokenizer_config.dump(2) + "\n");
  if (!spec.chat_template.empty()) write("chat_template.jinja", spec.chat_template);
}

}  // namespace exaone

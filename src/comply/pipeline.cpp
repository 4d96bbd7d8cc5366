#include "comply/pipeline.h"

#include <fcntl.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "comply/jsonl.h"
#include "comply/normalize.h"
#include "comply/report.h"
#include "comply/sha256.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace exaone::comply {

json finding_to_json(const Finding& f) {
  json j;
  j["type"] = std::string(f.type);
  j["start"] = f.start;
  j["end"] = f.end;
  j["confidence"] = f.confidence;
  j["rule"] = std::string(f.rule);
  return j;
}

ProcessedText process_text(std::string_view text, Action action, std::string_view key, double min_confidence,
                           const DedupConfig& dedup) {
  ProcessedText r;
  DetectOptions dopt;
  dopt.min_confidence = min_confidence;
  r.findings = detect(text, dopt);
  Action write_action = action == Action::Drop ? Action::Mask : action;  // kept documents are still masked
  r.output = apply_action(text, r.findings, write_action, key);
  r.sha_in = sha256_hex(text);
  r.sha_out = r.output == text ? r.sha_in : sha256_hex(r.output);
  if (dedup.exact || dedup.near) {
    std::string norm = dedup_normalize(text);
    r.key = exact_key(norm);
    if (dedup.near) r.signature = minhash_signature(norm, dedup.num_perm);
  }
  return r;
}

namespace {

constexpr const char* kManifest = "manifest.jsonl";
constexpr const char* kCheckpoint = "checkpoint.json";
constexpr const char* kState = "state/dedup.bin";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool is_card_file(const fs::path& p) {
  std::string n = p.filename().string();
  return n == "source.json" || n == "source.yaml" || n == "source.yml" || n.ends_with(".card.json") ||
         n.ends_with(".card.yaml") || n.ends_with(".card.yml");
}

struct InputFile {
  std::string path, rel;
  bool jsonl = false;
  std::string folder_card;  // name of the nearest folder card ("" if none)
};

struct Inputs {
  std::vector<InputFile> files;
  std::map<std::string, SourceCard> cards;  // by source name
};

void register_card(Inputs& in, SourceCard c) {
  auto it = in.cards.find(c.name);
  if (it != in.cards.end() && it->second.path != c.path)
    fail(c.path + ": source '" + c.name + "' already has a card (" + it->second.path + ")");
  in.cards[c.name] = std::move(c);
}

Inputs collect_inputs(const ScanOptions& o) {
  Inputs in;
  for (const auto& cp : o.card_paths) {
    if (fs::is_directory(cp)) {
      std::vector<fs::path> files;
      for (auto& e : fs::directory_iterator(cp)) {
        std::string ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".json" || ext == ".yaml" || ext == ".yml")) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (auto& f : files) register_card(in, load_card(f.string()));
    } else {
      register_card(in, load_card(cp));
    }
  }
  if (!fs::exists(o.input)) fail("--in: " + o.input + ": no such file or folder");
  if (!fs::is_directory(o.input)) {
    InputFile f;
    f.path = o.input;
    f.rel = fs::path(o.input).filename().string();
    f.jsonl = f.rel.ends_with(".jsonl");
    in.files.push_back(f);
    return in;
  }
  std::vector<fs::path> all;
  for (auto& e : fs::recursive_directory_iterator(o.input)) {
    if (!e.is_regular_file()) continue;
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    all.push_back(e.path());
  }
  std::sort(all.begin(), all.end());
  std::map<std::string, std::string> folder_cards;  // folder -> card name
  for (auto& p : all) {
    if (!is_card_file(p)) continue;
    SourceCard c = load_card(p.string());
    folder_cards[p.parent_path().string()] = c.name;
    register_card(in, std::move(c));
  }
  fs::path root = fs::path(o.input).lexically_normal();
  for (auto& p : all) {
    if (is_card_file(p)) continue;
    InputFile f;
    f.path = p.string();
    f.rel = p.lexically_relative(fs::path(o.input)).string();
    f.jsonl = p.extension() == ".jsonl";
    for (fs::path d = p.parent_path();; d = d.parent_path()) {
      auto it = folder_cards.find(d.string());
      if (it != folder_cards.end()) {
        f.folder_card = it->second;
        break;
      }
      if (d.lexically_normal() == root || d == d.parent_path() || d.empty()) break;
    }
    in.files.push_back(f);
  }
  return in;
}

// ------------------------------------------------------------------ output files
void write_all(FILE* f, const std::string& s, const std::string& path) {
  if (std::fwrite(s.data(), 1, s.size(), f) != s.size()) fail(path + ": write failed");
}

void sync_file(FILE* f, const std::string& path) {
  if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0) fail(path + ": cannot flush to disk");
}

std::string shard_name(int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "shard-%05d.jsonl", index);
  return name;
}

class ShardWriter {
 public:
  ShardWriter(std::string dir, size_t limit) : dir_(std::move(dir)), limit_(limit) {}
  ~ShardWriter() {
    if (f_) std::fclose(f_);
  }
  void open(int index, uint64_t size) {  // resume: continue shard `index` at `size` bytes
    index_ = index;
    size_ = size;
    if (size > 0) reopen(true);
  }
  void write(const std::string& line) {
    if (f_ && size_ + line.size() > limit_ && size_ > 0) {
      std::fclose(f_);
      f_ = nullptr;
      ++index_;
      size_ = 0;
    }
    if (!f_) reopen(false);
    write_all(f_, line, path());
    size_ += line.size();
  }
  void sync() {
    if (f_) sync_file(f_, path());
  }
  std::string path() const { return dir_ + "/" + shard_name(index_); }
  std::string rel() const { return fs::path(path()).parent_path().filename().string() + "/" + fs::path(path()).filename().string(); }
  int index() const { return index_; }
  uint64_t size() const { return size_; }
  bool started() const { return f_ != nullptr || size_ > 0; }

 private:
  void reopen(bool append) {
    fs::create_directories(dir_);
    f_ = std::fopen(path().c_str(), append ? "ab" : "wb");
    if (!f_) fail(path() + ": cannot open for writing");
  }
  std::string dir_;
  size_t limit_;
  int index_ = 0;
  uint64_t size_ = 0;
  FILE* f_ = nullptr;
};

// ------------------------------------------------------------------ reading
struct RawDoc {
  uint64_t ordinal = 0;
  size_t file = 0;
  uint64_t line = 0, offset = 0;
  std::string raw;
  bool too_long = false;
  uint64_t raw_len = 0;
};

// Buffered line reader that never holds more than `cap` bytes of one line: longer lines are
// consumed and reported by length only (bounded memory on any input).
class LineReader {
 public:
  explicit LineReader(FILE* f) : f_(f), buf_(1 << 20) {}
  bool next(std::string& out, size_t cap, bool& too_long, uint64_t& consumed) {
    out.clear();
    too_long = false;
    consumed = 0;
    bool any = false;
    while (true) {
      if (pos_ == len_) {
        len_ = std::fread(buf_.data(), 1, buf_.size(), f_);
        pos_ = 0;
        if (len_ == 0) return any;
      }
      any = true;
      const char* start = buf_.data() + pos_;
      const void* nl = std::memchr(start, '\n', len_ - pos_);
      size_t n = nl ? static_cast<const char*>(nl) - start : len_ - pos_;
      if (!too_long) {
        if (out.size() + n > cap) {
          too_long = true;
          std::string().swap(out);
        } else {
          out.append(start, n);
        }
      }
      consumed += n;
      pos_ += n;
      if (nl) {
        ++pos_;
        ++consumed;
        return true;
      }
    }
  }

 private:
  FILE* f_;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
};

// ------------------------------------------------------------------ per-document result
struct DocResult {
  std::string id, source, error;
  std::optional<std::string> license;
  json extra = json::object();  // url, author, date: carried to the shard
  ProcessedText p;
  bool ok = false;
  // Built by the worker threads so the in-order writer only splices strings.
  std::string findings_json;  // the "findings" array
  std::string text_json;      // p.output as a JSON string literal
};

void prepare(const RawDoc& d, const InputFile& in, const ScanOptions& o, const Policy& pol, DocResult& r) {
  std::string where = in.rel + ":" + std::to_string(d.line);
  r.id = in.jsonl ? where : in.rel;
  r.source = in.folder_card;
  std::string text;
  if (d.too_long) {
    r.error = where + ": line longer than " + std::to_string(o.max_line_bytes) + " bytes (" +
              std::to_string(d.raw_len) + ")";
    return;
  }
  bool utf8_checked = false;
  LineFields fields;
  if (in.jsonl && read_line_fast(d.raw, fields)) {
    // The common case: read without a DOM; strings were checked for UTF-8 on the way.
    if (fields.id) r.id = std::move(*fields.id);
    if (fields.source) r.source = std::move(*fields.source);
    r.license = std::move(fields.license);
    r.extra = std::move(fields.extra);
    text = std::move(fields.text);
    utf8_checked = true;
  } else if (in.jsonl) {
    json j;
    try {
      j = json::parse(d.raw);
    } catch (const json::parse_error& e) {
      r.error = where + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what();
      r.p.sha_in = sha256_hex(d.raw);
      return;
    }
    if (!j.is_object()) {
      r.error = where + ": expected a JSON object";
      r.p.sha_in = sha256_hex(d.raw);
      return;
    }
    if (auto it = j.find("id"); it != j.end()) {
      if (it->is_string()) r.id = it->get<std::string>();
      else if (it->is_number_integer()) r.id = std::to_string(it->get<int64_t>());
    }
    if (auto it = j.find("source"); it != j.end() && it->is_string()) r.source = it->get<std::string>();
    if (auto it = j.find("license"); it != j.end() && it->is_string()) r.license = it->get<std::string>();
    for (const char* k : {"url", "author", "date"})
      if (auto it = j.find(k); it != j.end() && !it->is_null()) r.extra[k] = *it;
    auto it = j.find("text");
    if (it == j.end() || !it->is_string()) {
      r.error = where + ": field 'text': " + (it == j.end() ? "missing" : std::string("expected string, got ") + it->type_name());
      r.p.sha_in = sha256_hex(d.raw);
      return;
    }
    text = it->get<std::string>();
  } else {
    text = d.raw;
  }
  size_t bad = utf8_checked ? std::string::npos : find_invalid_utf8(text);
  if (bad != std::string::npos) {
    r.error = where + ": invalid UTF-8 at byte " + std::to_string(bad);
    r.p.sha_in = sha256_hex(text);
    return;
  }
  r.p = process_text(text, o.action, o.key, pol.min_confidence, o.dedup);
  json findings = json::array();
  for (const auto& fd : r.p.findings) findings.push_back(finding_to_json(fd));
  r.findings_json = dump(findings);
  // Masking keeps UTF-8 valid, but the fast writer is only trusted on text known to be valid.
  const std::string& out = r.p.output;
  if (out == text || find_invalid_utf8(out) == std::string::npos) append_json_string(r.text_json, out);
  else r.text_json = dump(json(out));
  r.ok = true;
}

json fingerprint(const ScanOptions& o, const Policy& pol) {
  json f;
  f["input"] = fs::absolute(o.input).lexically_normal().string();
  f["action"] = action_name(o.action);
  f["policy"] = o.policy_path.empty() ? std::string("(default)") : sha256_file_hex(o.policy_path);
  f["rules_version"] = kRulesVersion;
  f["dedup"] = {{"exact", o.dedup.exact}, {"near", o.dedup.near}, {"threshold", o.dedup.threshold},
                {"num_perm", o.dedup.num_perm}, {"drop_near", o.drop_near_duplicates},
                {"scheme", kMinhashScheme}};
  f["drop_threshold"] = o.drop_threshold.value_or(pol.drop_threshold);
  f["shard_bytes"] = o.shard_bytes;
  // The key itself never leaves memory; only whether one was used.
  f["keyed"] = !o.key.empty();
  return f;
}

void write_atomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(tmp + ": cannot open for writing");
  write_all(f, content, tmp);
  sync_file(f, tmp);
  std::fclose(f);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path + ": cannot replace");
}

void truncate_to(const std::string& path, uint64_t size) {
  if (!fs::exists(path)) {
    if (size == 0) return;
    fail(path + ": missing, cannot resume (expected " + std::to_string(size) + " bytes)");
  }
  if (fs::file_size(path) < size) fail(path + ": shorter than its checkpoint, cannot resume");
  fs::resize_file(path, size);
}

// Dedup state record: ordinal, id, exact key, signature — enough to rebuild the index on resume.
void append_state(std::string& buf, uint64_t ordinal, const std::string& id, const ExactKey& k,
                  const std::vector<uint32_t>& sig) {
  auto put = [&](const void* p, size_t n) { buf.append(static_cast<const char*>(p), n); };
  uint32_t idlen = static_cast<uint32_t>(id.size()), nsig = static_cast<uint32_t>(sig.size());
  put(&ordinal, 8);
  put(&idlen, 4);
  put(id.data(), id.size());
  put(&k.a, 8);
  put(&k.b, 8);
  put(&nsig, 4);
  put(sig.data(), sig.size() * 4);
}

}  // namespace

ScanSummary scan(const ScanOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  Policy pol = o.policy_path.empty() ? default_policy() : load_policy(o.policy_path);
  int drop_threshold = o.drop_threshold.value_or(pol.drop_threshold);
  if (o.action == Action::Pseudonymize && o.key.empty())
    fail("--action pseudonymize needs a key (--key-file or EXAONE_COMPLY_KEY)");
  if (o.dedup.threshold <= 0 || o.dedup.threshold > 1) fail("--near-threshold: must be within (0, 1]");
  Inputs in = collect_inputs(o);
  const std::string dir = o.out_dir;
  const std::string ckpt_path = dir + "/" + kCheckpoint;
  json fp = fingerprint(o, pol);

  // Output folder: empty, or resumed from its checkpoint, or replaced with --force.
  json ckpt;
  bool resuming = false;
  if (fs::exists(dir) && !fs::is_empty(dir)) {
    if (o.resume && fs::exists(ckpt_path)) {
      ckpt = read_json_file(ckpt_path);
      if (ckpt.value("fingerprint", json()) != fp)
        fail(ckpt_path + ": the scan in this folder used other inputs or options; cannot resume");
      resuming = true;
    } else if (o.force) {
      for (const char* name : {"data", "quarantine", "state", kManifest, kCheckpoint, "report.json", "report.html",
                               "manifest.sha256"})
        fs::remove_all(dir + "/" + name);
    } else {
      fail("--out: " + dir + " is not empty (use --force to replace it or --resume to continue)");
    }
  }
  fs::create_directories(dir + "/state");

  ScanSummary sum;
  size_t file_index = 0;
  uint64_t offset = 0, line_no = 0, ordinal = 0;
  ShardWriter data(dir + "/data", o.shard_bytes), quarantine(dir + "/quarantine", o.shard_bytes);
  Deduper dedup(o.dedup);
  std::unordered_map<uint64_t, std::string> rep_ids;  // ordinal -> id, for documents in the dedup index

  if (resuming) {
    if (ckpt.value("complete", false)) {
      sum.complete = true;
      return sum;
    }
    file_index = ckpt["file_index"].get<size_t>();
    offset = ckpt["offset"].get<uint64_t>();
    line_no = ckpt["line"].get<uint64_t>();
    ordinal = ckpt["ordinal"].get<uint64_t>();
    for (auto& [rel, size] : ckpt["files"].items()) truncate_to(dir + "/" + rel, size.get<uint64_t>());
    // Files written after the checkpoint (a shard opened mid-batch) are discarded.
    for (const char* sub : {"data", "quarantine"}) {
      if (!fs::exists(dir + "/" + sub)) continue;
      for (auto& e : fs::directory_iterator(dir + "/" + sub)) {
        std::string rel = std::string(sub) + "/" + e.path().filename().string();
        if (!ckpt["files"].contains(rel)) fs::remove(e.path());
      }
    }
    for (ShardWriter* w : {&data, &quarantine}) {
      int idx = ckpt[w == &data ? "data_shard" : "quarantine_shard"].get<int>();
      std::string rel = std::string(w == &data ? "data/" : "quarantine/") + shard_name(idx);
      w->open(idx, ckpt["files"].value(rel, uint64_t(0)));
    }
    // Rebuild the duplicate index from the state file.
    std::string state = read_text_file(dir + "/" + kState);
    size_t p = 0;
    auto get = [&](void* dst, size_t n) {
      if (p + n > state.size()) fail(dir + "/" + kState + ": truncated, cannot resume");
      std::memcpy(dst, state.data() + p, n);
      p += n;
    };
    while (p < state.size()) {
      uint64_t ord;
      uint32_t idlen, nsig;
      ExactKey k;
      get(&ord, 8);
      get(&idlen, 4);
      std::string id(idlen, '\0');
      get(id.data(), idlen);
      get(&k.a, 8);
      get(&k.b, 8);
      get(&nsig, 4);
      std::vector<uint32_t> sig(nsig);
      get(sig.data(), nsig * 4);
      auto m = dedup.add(ord, k, sig);
      if (m.exact_of < 0) rep_ids[ord] = id;
    }
  } else {
    for (const char* name : {kManifest, kState}) write_atomic(dir + "/" + name, "");
  }

  FILE* manifest = std::fopen((dir + "/" + kManifest).c_str(), "ab");
  FILE* state = std::fopen((dir + "/" + kState).c_str(), "ab");
  if (!manifest || !state) fail(dir + ": cannot open manifest or state for appending");

  // Batches flow through two stages: worker threads process batch k while this thread writes
  // batch k-1 in input order and checkpoints it, then joins the workers. At most two batches
  // are in memory at once.
  const int threads = o.threads > 0 ? o.threads : std::max(1, omp_get_max_threads());
  struct Batch {
    std::vector<RawDoc> docs;
    std::vector<DocResult> results;
    // Reading position after the batch: what its checkpoint records.
    size_t file_index = 0;
    uint64_t offset = 0, line_no = 0, ordinal = 0;
  };
  Batch slots[2];
  size_t batches = 0;
  FILE* cur = nullptr;
  std::unique_ptr<LineReader> reader;
  size_t cur_index = SIZE_MAX;
  auto close_cur = [&] {
    reader.reset();
    if (cur) std::fclose(cur);
    cur = nullptr;
  };

  auto read_batch = [&](Batch& b) {
    b.docs.clear();
    size_t batch_bytes = 0;
    while (file_index < in.files.size() && batch_bytes < o.batch_bytes) {
      const InputFile& f = in.files[file_index];
      if (cur_index != file_index) {
        close_cur();
        cur = std::fopen(f.path.c_str(), "rb");
        if (!cur) fail(f.path + ": cannot open");
        if (offset && fseeko(cur, static_cast<off_t>(offset), SEEK_SET) != 0) fail(f.path + ": cannot seek to resume");
        cur_index = file_index;
        reader = std::make_unique<LineReader>(cur);
      }
      RawDoc d;
      d.file = file_index;
      if (f.jsonl) {
        uint64_t consumed = 0;
        if (!reader->next(d.raw, o.max_line_bytes, d.too_long, consumed)) {
          ++file_index, offset = 0, line_no = 0;
          continue;
        }
        d.offset = offset;
        d.line = ++line_no;
        d.raw_len = consumed;
        offset += consumed;
        bool blank = !d.too_long && d.raw.find_first_not_of(" \t\r") == std::string::npos;
        if (blank) continue;  // empty lines are not documents
      } else {
        uint64_t size = fs::file_size(f.path);
        d.line = 1;
        d.raw_len = size;
        if (size > o.max_line_bytes) {
          d.too_long = true;
        } else {
          d.raw.resize(size);
          if (size && std::fread(d.raw.data(), 1, size, cur) != size) fail(f.path + ": read error");
        }
        ++file_index, offset = 0, line_no = 0;
      }
      d.ordinal = ordinal++;
      batch_bytes += d.raw.size() + 64;
      b.docs.push_back(std::move(d));
    }
    b.file_index = file_index;
    b.offset = offset;
    b.line_no = line_no;
    b.ordinal = ordinal;
    b.results.clear();
    b.results.resize(b.docs.size());
  };

  // Work sharing over one batch: every participant takes the next unclaimed document.
  struct Work {
    Batch* batch = nullptr;
    std::atomic<size_t> next{0};
  };
  auto work = [&](Work& w) {
    Batch& b = *w.batch;
    for (size_t k; (k = w.next.fetch_add(1, std::memory_order_relaxed)) < b.docs.size();) {
      const RawDoc& d = b.docs[k];
      try {
        prepare(d, in.files[d.file], o, pol, b.results[k]);
      } catch (const std::exception& e) {
        b.results[k].ok = false;
        b.results[k].error = in.files[d.file].rel + ":" + std::to_string(d.line) + ": " + e.what();
      }
    }
  };

  // Decide and write one processed batch, in input order, then checkpoint it.
  auto write_batch = [&](Batch& b) {
    std::string state_buf, manifest_buf;
    for (size_t k = 0; k < b.docs.size(); ++k) {
      const RawDoc& d = b.docs[k];
      DocResult& r = b.results[k];
      const InputFile& f = in.files[d.file];
      json m;
      m["id"] = r.id;
      m["source"] = r.source;
      m["input"] = {{"file", f.rel}, {"line", d.line}, {"offset", d.offset}};
      m["ordinal"] = d.ordinal;
      sum.documents++;
      sum.bytes += d.raw_len;
      std::string decision;
      std::vector<std::string> reasons;
      const SourceCard* card = nullptr;
      if (auto it = in.cards.find(r.source); it != in.cards.end()) card = &it->second;
      LicenseDecision lic = screen_license(card, r.license, pol);
      if (!card) lic.reason = r.source.empty() ? "no source card (document names no source)"
                                               : "no source card for source '" + r.source + "'";
      m["license"] = lic.license;
      m["license_decision"] = {{"status", lic.status}, {"reason", lic.reason}, {"card", lic.card}};
      m["sha256"] = {{"input", r.p.sha_in}, {"output", nullptr}};
      bool write_data = false, write_quarantine = false;
      if (!r.ok) {
        decision = "error";
        reasons.push_back(r.error);
        sum.errors++;
      } else {
        Deduper::Match dm = dedup.add(d.ordinal, r.p.key, r.p.signature);
        if (dm.exact_of < 0) {
          append_state(state_buf, d.ordinal, r.id, r.p.key, r.p.signature);
          rep_ids[d.ordinal] = r.id;
        } else {
          append_state(state_buf, d.ordinal, r.id, r.p.key, {});
        }
        if (dm.exact_of >= 0) {
          decision = "duplicate";
          m["duplicate_of"] = rep_ids[dm.exact_of];
          reasons.push_back("exact duplicate of " + rep_ids[dm.exact_of]);
          sum.duplicates++;
        } else {
          if (dm.near_of >= 0) {
            m["near_duplicate_of"] = rep_ids[dm.near_of];
            m["similarity"] = std::round(dm.similarity * 1000) / 1000;
          }
          if (lic.status == "deny") {
            decision = "exclude";
            reasons.push_back(lic.reason);
            sum.excluded++;
          } else if (lic.status == "quarantine") {
            decision = "quarantine";
            reasons.push_back(lic.reason);
            write_quarantine = true;
            sum.quarantined++;
          } else if (o.action == Action::Drop && static_cast<int>(r.p.findings.size()) > drop_threshold) {
            decision = "drop";
            reasons.push_back(std::to_string(r.p.findings.size()) + " findings exceed the drop threshold " +
                              std::to_string(drop_threshold));
            sum.dropped++;
          } else if (dm.near_of >= 0 && o.drop_near_duplicates) {
            decision = "near_duplicate";
            reasons.push_back("near duplicate of " + rep_ids[dm.near_of]);
            sum.duplicates++;
          } else {
            decision = "keep";
            write_data = true;
            sum.kept++;
          }
        }
      }
      if (write_data || write_quarantine) {
        json out;
        out["id"] = r.id;
        out["source"] = r.source;
        out["license"] = lic.license;
        for (auto& [ek, ev] : r.extra.items()) out[ek] = ev;
        if (write_quarantine) out["quarantine_reason"] = reasons.front();
        // "text" comes last: splice the worker-built literal in place of the closing brace.
        std::string line = dump(out);
        line.pop_back();
        line += ",\"text\":";
        line += r.text_json;
        line += "}\n";
        ShardWriter& w = write_data ? data : quarantine;
        w.write(line);
        m["sha256"]["output"] = r.p.sha_out;
        m["shard"] = w.rel();
      }
      m["decision"] = decision;
      m["reasons"] = reasons;
      m["action"] = action_name(o.action);
      // "findings" and "rules_version" come last, as json::dump would write them.
      std::string line = dump(m);
      line.pop_back();
      line += ",\"findings\":";
      line += r.findings_json.empty() ? std::string("[]") : r.findings_json;
      line += ",\"rules_version\":";
      line += dump(json(kRulesVersion));
      line += "}\n";
      manifest_buf += line;
    }
    write_all(manifest, manifest_buf, dir + "/" + kManifest);
    write_all(state, state_buf, dir + "/" + kState);

    // ---- checkpoint: everything above is on disk before the checkpoint names its sizes
    data.sync();
    quarantine.sync();
    sync_file(manifest, dir + "/" + kManifest);
    sync_file(state, dir + "/" + kState);
    json c;
    c["format"] = 1;
    c["fingerprint"] = fp;
    c["file_index"] = b.file_index;
    c["offset"] = b.offset;
    c["line"] = b.line_no;
    c["ordinal"] = b.ordinal;
    c["data_shard"] = data.index();
    c["quarantine_shard"] = quarantine.index();
    json files;
    files[kManifest] = fs::file_size(dir + "/" + kManifest);
    files[kState] = fs::file_size(dir + "/" + kState);
    for (const char* sub : {"data", "quarantine"}) {
      if (!fs::exists(dir + "/" + sub)) continue;
      for (auto& e : fs::directory_iterator(dir + "/" + sub))
        files[std::string(sub) + "/" + e.path().filename().string()] = fs::file_size(e.path());
    }
    c["files"] = files;
    c["complete"] = false;
    write_atomic(ckpt_path, c.dump(1) + "\n");
    ++batches;
  };

  Batch* prev = nullptr;
  for (int k = 0;; k ^= 1) {
    Batch& b = slots[k];
    read_batch(b);
    Work w;
    w.batch = &b;
    std::vector<std::thread> helpers;
    // Helpers are always joined, also when writing throws.
    struct Joiner {
      std::vector<std::thread>& t;
      ~Joiner() {
        for (auto& th : t)
          if (th.joinable()) th.join();
      }
    } joiner{helpers};
    if (!b.docs.empty())
      for (int t = 1; t < threads; ++t) helpers.emplace_back([&] { work(w); });
    if (prev) {
      write_batch(*prev);
      if (o.stop_after_batches && batches >= o.stop_after_batches && prev->file_index < in.files.size()) {
        w.next.store(b.docs.size());  // simulated interruption: stop the workers early
        for (auto& th : helpers) th.join();
        close_cur();
        std::fclose(manifest);
        std::fclose(state);
        sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return sum;  // the checkpoint is consistent
      }
    }
    work(w);
    for (auto& th : helpers) th.join();
    if (b.docs.empty()) break;
    prev = &b;
  }
  close_cur();
  std::fclose(manifest);
  std::fclose(state);

  // ---- report and digests
  json run;
  run["rules_version"] = kRulesVersion;
  run["action"] = action_name(o.action);
  run["policy"] = pol.path;
  run["drop_threshold"] = drop_threshold;
  run["min_confidence"] = pol.min_confidence;
  run["dedup"] = fp["dedup"];
  run["lsh"] = {{"bands", dedup.bands()}, {"rows", dedup.rows()}};
  run["input"] = fs::path(o.input).filename().string();
  run["sources"] = json::object();
  for (auto& [name, card] : in.cards)
    run["sources"][name] = {{"card", card.path}, {"license", card.license}, {"origin", card.origin},
                            {"commercial_use", card.commercial_use}};
  // The manifest and shards are final: digest them on another thread while the report is built.
  std::vector<std::string> digest_files = {kManifest};
  for (const char* sub : {"data", "quarantine"}) {
    if (!fs::exists(dir + "/" + sub)) continue;
    std::vector<std::string> shards;
    for (auto& e : fs::directory_iterator(dir + "/" + sub)) shards.push_back(std::string(sub) + "/" + e.path().filename().string());
    std::sort(shards.begin(), shards.end());
    digest_files.insert(digest_files.end(), shards.begin(), shards.end());
  }
  std::vector<std::string> hexes(digest_files.size());
  std::exception_ptr digest_error;
  std::thread digester([&] {
    try {
      for (size_t i = 0; i < digest_files.size(); ++i) hexes[i] = sha256_file_hex(dir + "/" + digest_files[i]);
    } catch (...) {
      digest_error = std::current_exception();
    }
  });
  json report;
  try {
    report = build_report(dir + "/" + kManifest, run);
    write_atomic(dir + "/report.json", report.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
    write_atomic(dir + "/report.html", render_report_html(report));
  } catch (...) {
    digester.join();
    throw;
  }
  digester.join();
  if (digest_error) std::rethrow_exception(digest_error);
  // Same listing order as before: manifest, report, then the shards.
  std::string digests = hexes[0] + "  " + kManifest + "\n";
  digests += sha256_file_hex(dir + "/report.json") + "  report.json\n";
  for (size_t i = 1; i < digest_files.size(); ++i) digests += hexes[i] + "  " + digest_files[i] + "\n";
  write_atomic(dir + "/manifest.sha256", digests);

  json c = read_json_file(ckpt_path);
  c["complete"] = true;
  write_atomic(ckpt_path, c.dump(1) + "\n");
  sum.complete = true;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

size_t verify_manifest(const std::string& dir) {
  std::string listing_path = dir + "/manifest.sha256";
  if (!fs::exists(listing_path)) fail(listing_path + ": missing (scan incomplete or not a comply output folder)");
  std::istringstream lines(read_text_file(listing_path));
  std::string line;
  size_t n = 0, line_no = 0;
  bool has_manifest = false;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line.empty()) continue;
    if (line.size() < 67 || line.compare(64, 2, "  ") != 0)
      fail(listing_path + ": line " + std::to_string(line_no) + ": expected '<sha256>  <file>'");
    std::string want = line.substr(0, 64), rel = line.substr(66);
    if (rel.find("..") != std::string::npos || rel[0] == '/')
      fail(listing_path + ": line " + std::to_string(line_no) + ": path outside the folder");
    std::string path = dir + "/" + rel;
    if (!fs::exists(path)) fail(path + ": listed in manifest.sha256 but missing");
    if (sha256_file_hex(path) != want) fail(path + ": SHA-256 does not match manifest.sha256");
    has_manifest |= rel == kManifest;
    ++n;
  }
  if (!has_manifest) fail(listing_path + ": does not cover manifest.jsonl");
  // Shards that appeared after the digests were written are not trusted either.
  for (const char* sub : {"data", "quarantine"}) {
    if (!fs::exists(dir + "/" + sub)) continue;
    for (auto& e : fs::directory_iterator(dir + "/" + sub)) {
      std::string rel = std::string(sub) + "/" + e.path().filename().string();
      if (read_text_file(listing_path).find("  " + rel + "\n") == std::string::npos)
        fail(dir + "/" + rel + ": not listed in manifest.sha256");
    }
  }
  return n;
}

}  // namespace exaone::comply

#include "comply/pipeline.h"

#include <fcntl.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
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
  NormalizedText norm(text);  // shared by detection and duplicate keys
  r.findings = detect(norm, dopt);
  Action write_action = action == Action::Drop ? Action::Mask : action;  // kept documents are still masked
  r.output = apply_action(text, r.findings, write_action, key);
  r.sha_in = sha256_hex(text);
  r.output_is_input = r.output == text;
  r.sha_out = r.output_is_input ? r.sha_in : sha256_hex(r.output);
  if (dedup.exact || dedup.near) {
    std::string folded = dedup_normalize(norm);
    r.key = exact_key(folded);
    if (dedup.near) r.signature = minhash_signature(folded, dedup.num_perm);
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

// The cards named with --cards.
void load_cards(const ScanOptions& o, Inputs& in) {
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
}

Inputs collect_inputs(const ScanOptions& o) {
  Inputs in;
  load_cards(o, in);
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

// Adds the contents of `path` to `h` (a resumed file's digest continues from what is on disk).
void hash_file_into(Sha256& h, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path + ": cannot open");
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.update(buf.data(), n);
  bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) fail(path + ": read error");
}

std::string hex_of(Sha256& h) {
  auto d = h.finish();
  return to_hex(d.data(), d.size());
}

// Writes data/ or quarantine/ shards, starting a new one when the next line would pass the size
// limit. Each shard is hashed as it is written, so the final digests need no second read.
class ShardWriter {
 public:
  ShardWriter(std::string dir, size_t limit) : dir_(std::move(dir)), limit_(limit) {}
  ~ShardWriter() {
    if (f_) std::fclose(f_);
  }
  void open(int index, uint64_t size) {  // resume: continue shard `index` at `size` bytes
    set_index(index);
    size_ = size;
    if (size > 0) {
      hash_file_into(hash_, path_);
      reopen(true);
    }
  }
  void write(const std::string& line) {
    if (f_ && size_ + line.size() > limit_ && size_ > 0) {
      close_current();
      set_index(index_ + 1);
      size_ = 0;
    }
    if (!f_) reopen(false);
    write_all(f_, line, path_);
    hash_.update(line);
    size_ += line.size();
  }
  void sync() {
    if (f_) sync_file(f_, path_);
  }
  // Closes the current shard; returns the digests of the shards written to their end by this
  // writer, by rel() name (shards finished before a resume are not among them).
  const std::map<std::string, std::string>& finish() {
    close_current();
    return digests_;
  }
  // "data/shard-00000.jsonl": what manifest lines name.
  const std::string& rel() const { return rel_; }
  int index() const { return index_; }

 private:
  void set_index(int index) {
    index_ = index;
    path_ = dir_ + "/" + shard_name(index);
    rel_ = fs::path(dir_).filename().string() + "/" + shard_name(index);
  }
  void reopen(bool append) {
    fs::create_directories(dir_);
    f_ = std::fopen(path_.c_str(), append ? "ab" : "wb");
    if (!f_) fail(path_ + ": cannot open for writing");
    // Lines are a few KB: gather them into large writes.
    std::setvbuf(f_, nullptr, _IOFBF, size_t(1) << 20);
  }
  void close_current() {
    if (!f_) return;
    if (std::fclose(f_) != 0) fail(path_ + ": write failed");
    f_ = nullptr;
    digests_[rel_] = hex_of(hash_);
  }
  std::string dir_, path_, rel_;
  size_t limit_;
  int index_ = 0;
  uint64_t size_ = 0;
  FILE* f_ = nullptr;
  Sha256 hash_;
  std::map<std::string, std::string> digests_;
};

// ------------------------------------------------------------------ reading
struct RawDoc {
  uint64_t ordinal = 0;
  size_t file = 0;
  uint64_t line = 0, offset = 0;
  size_t raw_begin = 0, raw_size = 0;  // where the line is in its batch's text
  std::string_view raw;                // set once the batch is read
  bool too_long = false;
  uint64_t raw_len = 0;
};

// Buffered line reader that never holds more than `cap` bytes of one line: longer lines are
// consumed and reported by length only (bounded memory on any input).
class LineReader {
 public:
  explicit LineReader(FILE* f) : f_(f), buf_(1 << 20) {}
  // Appends the next line to `out` (nothing, when it is too long).
  bool next(std::string& out, size_t cap, bool& too_long, uint64_t& consumed) {
    const size_t line_start = out.size();
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
        if (out.size() - line_start + n > cap) {
          too_long = true;
          out.resize(line_start);
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
// Workers build each document's output lines as far as they can; the in-order writer only adds
// what depends on earlier documents (duplicates, and the shard a line lands in) and splices.
struct DocResult {
  std::string id, source, error;
  std::optional<std::string> license;
  json extra = json::object();  // url, author, date: carried to the shard
  ProcessedText p;
  bool ok = false;
  LicenseDecision lic;
  std::string manifest_head;  // '{' up to and including "sha256":{"input":"…","output":
  std::string manifest_tail;  // ,"action":…,"findings":[…],"rules_version":…}\n
  std::string reason_json;    // the error, or the licence reason, as a JSON string
  std::string shard_line;     // the data/quarantine line, unless the licence is denied
  std::exception_ptr failure;  // building the lines failed; the writer raises it in order

  // Makes a used result fresh again; the line buffers keep their memory for the next document.
  void reset() {
    id.clear();
    source.clear();
    error.clear();
    license.reset();
    extra = json::object();
    p = ProcessedText();
    ok = false;
    failure = nullptr;
  }
};

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

// A double as json::dump writes it. Confidences come from a handful of rule constants, so each
// thread formats each value once.
void append_double(std::string& out, double v) {
  thread_local std::vector<std::pair<uint64_t, std::string>> cache;
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  for (auto& [b, text] : cache)
    if (b == bits) return void(out += text);
  std::string text = json(v).dump();
  out += text;
  if (cache.size() < 64) cache.emplace_back(bits, std::move(text));
}

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
    } catch (const json::exception& e) {  // e.g. a number too large for a double
      r.error = where + ": invalid JSON: " + e.what();
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
  r.ok = true;
}

// Screens the licence and builds everything of the document's manifest and shard lines that
// does not depend on other documents. Field order is json::dump's of the records as they were
// once built with nlohmann::json (insertion order), and strings are escaped as it escapes them.
void compose(const RawDoc& d, const InputFile& f, const ScanOptions& o, const Policy& pol,
             const std::map<std::string, SourceCard>& cards, DocResult& r) {
  const SourceCard* card = nullptr;
  if (auto it = cards.find(r.source); it != cards.end()) card = &it->second;
  r.lic = screen_license(card, r.license, pol);
  if (!card) r.lic.reason = r.source.empty() ? "no source card (document names no source)"
                                             : "no source card for source '" + r.source + "'";
  std::string& h = r.manifest_head;
  h.clear();
  h += "{\"id\":";
  append_json_string_lossy(h, r.id);
  h += ",\"source\":";
  append_json_string_lossy(h, r.source);
  h += ",\"input\":{\"file\":";
  append_json_string_lossy(h, f.rel);
  h += ",\"line\":";
  append_uint(h, d.line);
  h += ",\"offset\":";
  append_uint(h, d.offset);
  h += "},\"ordinal\":";
  append_uint(h, d.ordinal);
  h += ",\"license\":";
  append_json_string_lossy(h, r.lic.license);
  h += ",\"license_decision\":{\"status\":";
  append_json_string_lossy(h, r.lic.status);
  h += ",\"reason\":";
  append_json_string_lossy(h, r.lic.reason);
  h += ",\"card\":";
  append_json_string_lossy(h, r.lic.card);
  h += "},\"sha256\":{\"input\":";
  append_json_string_lossy(h, r.p.sha_in);
  h += ",\"output\":";

  std::string& t = r.manifest_tail;
  t.clear();
  t += ",\"action\":";
  append_json_string(t, action_name(o.action));
  t += ",\"findings\":[";
  for (size_t i = 0; i < r.p.findings.size(); ++i) {
    const Finding& fd = r.p.findings[i];
    t += i ? ",{\"type\":" : "{\"type\":";
    append_json_string_lossy(t, fd.type);
    t += ",\"start\":";
    append_uint(t, fd.start);
    t += ",\"end\":";
    append_uint(t, fd.end);
    t += ",\"confidence\":";
    append_double(t, fd.confidence);
    t += ",\"rule\":";
    append_json_string_lossy(t, fd.rule);
    t += '}';
  }
  t += "],\"rules_version\":";
  append_json_string(t, kRulesVersion);
  t += "}\n";

  r.reason_json.clear();
  append_json_string_lossy(r.reason_json, r.ok ? r.lic.reason : r.error);

  r.shard_line.clear();
  if (!r.ok || r.lic.status == "deny") return;
  std::string& s = r.shard_line;
  s.reserve(r.p.output.size() + r.manifest_head.size());
  s += "{\"id\":";
  append_json_string_lossy(s, r.id);
  s += ",\"source\":";
  append_json_string_lossy(s, r.source);
  s += ",\"license\":";
  append_json_string_lossy(s, r.lic.license);
  for (auto& [key, value] : r.extra.items()) {
    s += ',';
    append_json_string_lossy(s, key);
    s += ':';
    if (value.is_string()) append_json_string_lossy(s, value.get_ref<const std::string&>());
    else s += dump(value);
  }
  if (r.lic.status == "quarantine") {
    s += ",\"quarantine_reason\":";
    s += r.reason_json;
  }
  s += ",\"text\":";
  // The input text is known to be valid UTF-8, so an unchanged output needs no second check.
  if (r.p.output_is_input) append_json_string(s, r.p.output);
  else append_json_string_lossy(s, r.p.output);
  s += "}\n";
}

// The whole per-document stage: what a worker does with one raw line (or text file).
void process_doc(const RawDoc& d, const InputFile& f, const ScanOptions& o, const Policy& pol,
                 const std::map<std::string, SourceCard>& cards, DocResult& r) {
  r.reset();
  try {
    prepare(d, f, o, pol, r);
  } catch (const std::exception& e) {
    r.ok = false;
    r.error = f.rel + ":" + std::to_string(d.line) + ": " + e.what();
  }
  try {
    compose(d, f, o, pol, cards, r);
  } catch (...) {
    r.failure = std::current_exception();
  }
}

// What happens to a processed document, given its duplicate match (the in-order stage).
struct Decision {
  const char* name = "keep";
  enum class Reason { None, Escaped, Text } reason_kind = Reason::None;  // Escaped: r.reason_json
  std::string reason_text;
  enum class Dest { None, Data, Quarantine } dest = Dest::None;
  ReportTally::Duplicate duplicate = ReportTally::Duplicate::None;
  uint64_t ScanSummary::*counter = &ScanSummary::kept;
  std::string_view reason(const DocResult& r) const {
    if (reason_kind == Reason::Escaped) return r.ok ? std::string_view(r.lic.reason) : std::string_view(r.error);
    if (reason_kind == Reason::Text) return reason_text;
    return {};
  }
};

Decision decide(const DocResult& r, const Deduper::Match& dm, const std::string* duplicate_of, const ScanOptions& o,
                int drop_threshold) {
  Decision dc;
  if (!r.ok) {
    dc.name = "error";
    dc.reason_kind = Decision::Reason::Escaped;
    dc.counter = &ScanSummary::errors;
    return dc;
  }
  const std::string& status = r.lic.status;
  if (dm.exact_of >= 0) {
    dc.name = "duplicate";
    dc.duplicate = ReportTally::Duplicate::Exact;
    dc.reason_kind = Decision::Reason::Text;
    dc.reason_text = "exact duplicate of " + *duplicate_of;
    dc.counter = &ScanSummary::duplicates;
    return dc;
  }
  if (dm.near_of >= 0) dc.duplicate = ReportTally::Duplicate::Near;
  if (status == "deny") {
    dc.name = "exclude";
    dc.reason_kind = Decision::Reason::Escaped;
    dc.counter = &ScanSummary::excluded;
  } else if (status == "quarantine") {
    dc.name = "quarantine";
    dc.reason_kind = Decision::Reason::Escaped;
    dc.dest = Decision::Dest::Quarantine;
    dc.counter = &ScanSummary::quarantined;
  } else if (o.action == Action::Drop && static_cast<int>(r.p.findings.size()) > drop_threshold) {
    dc.name = "drop";
    dc.reason_kind = Decision::Reason::Text;
    dc.reason_text = std::to_string(r.p.findings.size()) + " findings exceed the drop threshold " +
                     std::to_string(drop_threshold);
    dc.counter = &ScanSummary::dropped;
  } else if (dm.near_of >= 0 && o.drop_near_duplicates) {
    dc.name = "near_duplicate";
    dc.reason_kind = Decision::Reason::Text;
    dc.reason_text = "near duplicate of " + *duplicate_of;
    dc.counter = &ScanSummary::duplicates;
  } else {
    dc.dest = Decision::Dest::Data;
  }
  return dc;
}

// Appends the document's manifest line; `shard_rel` is the shard its line went to, if any.
void append_record(std::string& m, const DocResult& r, const Decision& dc, const std::string* duplicate_of,
                   double similarity, const std::string* shard_rel) {
  m += r.manifest_head;
  if (shard_rel) {
    m += '"';
    m += r.p.sha_out;
    m += "\"}";
  } else {
    m += "null}";
  }
  if (dc.duplicate == ReportTally::Duplicate::Exact) {
    m += ",\"duplicate_of\":";
    append_json_string_lossy(m, *duplicate_of);
  } else if (dc.duplicate == ReportTally::Duplicate::Near) {
    m += ",\"near_duplicate_of\":";
    append_json_string_lossy(m, *duplicate_of);
    m += ",\"similarity\":";
    m += dump(json(std::round(similarity * 1000) / 1000));
  }
  if (shard_rel) {
    m += ",\"shard\":";
    append_json_string_lossy(m, *shard_rel);
  }
  m += ",\"decision\":\"";
  m += dc.name;
  m += "\",\"reasons\":[";
  if (dc.reason_kind == Decision::Reason::Escaped) m += r.reason_json;
  else if (dc.reason_kind == Decision::Reason::Text) append_json_string_lossy(m, dc.reason_text);
  m += ']';
  m += r.manifest_tail;
}

// Results travel from ScanPlan::process_range to the writer as length-prefixed fields: only what
// the in-order stage reads (the manifest and shard lines are already built).
void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& out, std::string_view v) {
  put_u64(out, v.size());
  out.append(v);
}

void encode_result(const RawDoc& d, const DocResult& r, std::string& out) {
  put_u64(out, d.ordinal);
  put_u64(out, d.raw_len);
  out += char(r.ok);
  std::string failure;
  if (r.failure) {
    try {
      std::rethrow_exception(r.failure);
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown error";
    }
  }
  out += char(r.failure ? 1 : 0);
  for (const std::string* v : std::initializer_list<const std::string*>{&failure, &r.id, &r.source, &r.error, &r.lic.status, &r.lic.license, &r.lic.reason,
                               &r.p.sha_out, &r.manifest_head, &r.manifest_tail, &r.reason_json, &r.shard_line})
    put_str(out, *v);
  put_u64(out, r.p.key.a);
  put_u64(out, r.p.key.b);
  put_str(out, std::string_view(reinterpret_cast<const char*>(r.p.signature.data()), r.p.signature.size() * 4));
  put_u64(out, r.p.findings.size());
  for (const Finding& f : r.p.findings) {
    put_str(out, f.type);
    put_u64(out, f.start);
    put_u64(out, f.end);
    out.append(reinterpret_cast<const char*>(&f.confidence), 8);
  }
}

class ResultReader {
 public:
  explicit ResultReader(std::string_view blob) : s_(blob) {}
  bool done() const { return p_ == s_.size(); }
  void read(RawDoc& d, DocResult& r) {
    r.reset();
    d = RawDoc();
    d.ordinal = u64();
    d.raw_len = u64();
    r.ok = byte() != 0;
    bool failed = byte() != 0;
    std::string failure;
    for (std::string* v : {&failure, &r.id, &r.source, &r.error, &r.lic.status, &r.lic.license, &r.lic.reason,
                           &r.p.sha_out, &r.manifest_head, &r.manifest_tail, &r.reason_json, &r.shard_line})
      *v = str();
    if (failed) r.failure = std::make_exception_ptr(Error(failure));
    r.p.key.a = u64();
    r.p.key.b = u64();
    std::string_view sig = str();
    r.p.signature.resize(sig.size() / 4);
    std::memcpy(r.p.signature.data(), sig.data(), r.p.signature.size() * 4);
    r.p.findings.resize(u64());
    for (Finding& f : r.p.findings) {
      std::string_view type = str();
      f.type = "";  // types point at static storage, as detect() leaves them
      for (const std::string& t : finding_types())
        if (t == type) f.type = t;
      f.start = u64();
      f.end = u64();
      std::memcpy(&f.confidence, take(8), 8);
    }
  }

 private:
  const char* take(size_t n) {
    if (n > s_.size() - p_) fail("comply: truncated or corrupt result batch");
    const char* q = s_.data() + p_;
    p_ += n;
    return q;
  }
  uint64_t u64() {
    uint64_t v;
    std::memcpy(&v, take(8), 8);
    return v;
  }
  char byte() { return *take(1); }
  std::string_view str() {
    uint64_t n = u64();
    return std::string_view(take(n), n);
  }
  std::string_view s_;
  size_t p_ = 0;
};

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
  if (o.external_results) f["distributed"] = true;  // never resumed by a plain scan
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
  data.open(0, 0);
  quarantine.open(0, 0);
  Deduper dedup(o.dedup);
  std::unordered_map<uint64_t, std::string> rep_ids;  // ordinal -> id, for documents in the dedup index
  ReportTally tally;
  bool tally_from_manifest = false;  // resuming a checkpoint written before tallies were saved

  if (resuming) {
    if (ckpt.value("complete", false)) {
      sum.complete = true;
      return sum;
    }
    file_index = ckpt["file_index"].get<size_t>();
    offset = ckpt["offset"].get<uint64_t>();
    line_no = ckpt["line"].get<uint64_t>();
    ordinal = ckpt["ordinal"].get<uint64_t>();
    if (ckpt.contains("report")) tally.restore_counters(ckpt["report"]);
    else tally_from_manifest = true;
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
      // Replaying the index meets every duplicate again, in order: the report's clusters.
      if (m.exact_of >= 0) tally.link_duplicate(id, rep_ids[m.exact_of], ReportTally::Duplicate::Exact);
      else if (m.near_of >= 0) tally.link_duplicate(id, rep_ids[m.near_of], ReportTally::Duplicate::Near);
    }
  } else {
    for (const char* name : {kManifest, kState}) write_atomic(dir + "/" + name, "");
  }

  // The manifest is hashed as it is written (continuing from what a resumed scan finds on disk).
  Sha256 manifest_hash;
  if (resuming) hash_file_into(manifest_hash, dir + "/" + kManifest);
  FILE* manifest = std::fopen((dir + "/" + kManifest).c_str(), "ab");
  FILE* state = std::fopen((dir + "/" + kState).c_str(), "ab");
  if (!manifest || !state) fail(dir + ": cannot open manifest or state for appending");

  // Batches flow through two stages: worker threads process batch k while this thread writes
  // batch k-1 in input order and checkpoints it, reads batch k+1 into the slot k-1 held, and
  // then joins the workers. At most two batches are in memory at once.
  const int threads = o.threads > 0 ? o.threads : std::max(1, omp_get_max_threads());
  struct Batch {
    std::string text;  // every document's raw line, one after the other
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
    b.text.clear();
    // The batch's buffers are reused (no allocation or page faults per document), unless a very
    // long line left them much larger than a batch.
    if (b.text.capacity() > 2 * o.batch_bytes + (size_t(1) << 20)) std::string().swap(b.text);
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
      d.raw_begin = b.text.size();
      if (f.jsonl) {
        uint64_t consumed = 0;
        if (!reader->next(b.text, o.max_line_bytes, d.too_long, consumed)) {
          ++file_index, offset = 0, line_no = 0;
          continue;
        }
        d.offset = offset;
        d.line = ++line_no;
        d.raw_len = consumed;
        offset += consumed;
        bool blank = !d.too_long &&
                     std::string_view(b.text).substr(d.raw_begin).find_first_not_of(" \t\r") == std::string_view::npos;
        if (blank) {  // empty lines are not documents
          b.text.resize(d.raw_begin);
          continue;
        }
      } else {
        uint64_t size = fs::file_size(f.path);
        d.line = 1;
        d.raw_len = size;
        if (size > o.max_line_bytes) {
          d.too_long = true;
        } else {
          b.text.resize(d.raw_begin + size);
          if (size && std::fread(b.text.data() + d.raw_begin, 1, size, cur) != size) fail(f.path + ": read error");
        }
        ++file_index, offset = 0, line_no = 0;
      }
      d.raw_size = b.text.size() - d.raw_begin;
      d.ordinal = ordinal++;
      batch_bytes += d.raw_size + 64;
      b.docs.push_back(d);
    }
    for (RawDoc& d : b.docs) d.raw = std::string_view(b.text).substr(d.raw_begin, d.raw_size);
    b.file_index = file_index;
    b.offset = offset;
    b.line_no = line_no;
    b.ordinal = ordinal;
    b.results.resize(b.docs.size());  // reset by the workers before use
  };

  // Work sharing over one batch: every participant takes the next unclaimed document.
  struct Work {
    Batch* batch = nullptr;
    std::atomic<size_t> next{0};
  };
  auto work = [&](Work& w) {
    Batch& b = *w.batch;
    for (size_t k; (k = w.next.fetch_add(1, std::memory_order_relaxed)) < b.docs.size();) {
      process_doc(b.docs[k], in.files[b.docs[k].file], o, pol, in.cards, b.results[k]);
    }
  };

  // Decide and write one processed batch, in input order, then checkpoint it.
  std::string state_buf, manifest_buf;  // kept across batches: their memory is reused
  auto write_batch = [&](Batch& b) {
    state_buf.clear();
    manifest_buf.clear();
    for (size_t k = 0; k < b.docs.size(); ++k) {
      const RawDoc& d = b.docs[k];
      DocResult& r = b.results[k];
      if (r.failure) std::rethrow_exception(r.failure);
      sum.documents++;
      sum.bytes += d.raw_len;
      Deduper::Match dm;
      const std::string* duplicate_of = nullptr;
      if (r.ok) {
        dm = dedup.add(d.ordinal, r.p.key, r.p.signature);
        if (dm.exact_of < 0) {
          append_state(state_buf, d.ordinal, r.id, r.p.key, r.p.signature);
          rep_ids[d.ordinal] = r.id;
        } else {
          append_state(state_buf, d.ordinal, r.id, r.p.key, {});
        }
        if (dm.exact_of >= 0) duplicate_of = &rep_ids[dm.exact_of];
        else if (dm.near_of >= 0) duplicate_of = &rep_ids[dm.near_of];
      }
      const Decision dc = decide(r, dm, duplicate_of, o, drop_threshold);
      sum.*dc.counter += 1;
      ShardWriter* shard = dc.dest == Decision::Dest::Data         ? &data
                           : dc.dest == Decision::Dest::Quarantine ? &quarantine
                                                                   : nullptr;
      if (shard) shard->write(r.shard_line);
      append_record(manifest_buf, r, dc, duplicate_of, dm.similarity, shard ? &shard->rel() : nullptr);
      tally.add_document({r.id, r.source, dc.name, r.lic.license, r.lic.status, dc.reason(r), dc.duplicate},
                         r.p.findings);
      if (dc.duplicate != ReportTally::Duplicate::None) tally.link_duplicate(r.id, *duplicate_of, dc.duplicate);
    }
    write_all(manifest, manifest_buf, dir + "/" + kManifest);
    manifest_hash.update(manifest_buf);
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
    if (!tally_from_manifest) c["report"] = tally.counters();  // else resumes keep reading the manifest
    c["complete"] = false;
    write_atomic(ckpt_path, c.dump(1) + "\n");
    ++batches;
  };

  if (o.external_results) {
    Batch& b = slots[0];
    std::string blob;
    while (true) {
      blob.clear();
      if (!o.external_results(blob)) break;
      b.docs.clear();
      b.results.clear();
      ResultReader reader(blob);
      while (!reader.done()) {
        b.docs.emplace_back();
        b.results.emplace_back();
        reader.read(b.docs.back(), b.results.back());
      }
      b.ordinal = b.docs.empty() ? b.ordinal : b.docs.back().ordinal + 1;
      b.file_index = in.files.size();  // this checkpoint only says how far the scan got
      write_batch(b);
    }
  }
  // The slot of the batch just written takes the next one, read while the helpers work.
  Batch* current = &slots[0];
  Batch* free_slot = &slots[1];
  Batch* prev = nullptr;  // processed, not yet written
  if (!o.external_results) read_batch(*current);
  while (!o.external_results) {
    Batch& b = *current;
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
      free_slot = prev;
    }
    if (!b.docs.empty()) read_batch(*free_slot);
    work(w);
    for (auto& th : helpers) th.join();
    if (b.docs.empty()) break;
    prev = &b;
    current = free_slot;
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
  // Digests of the files written to their end in this run are known; any others (shards
  // finished before a resume) are read back on another thread while the report is built.
  std::map<std::string, std::string> known = data.finish();
  known.merge(std::map<std::string, std::string>(quarantine.finish()));
  known[kManifest] = hex_of(manifest_hash);
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
      for (size_t i = 0; i < digest_files.size(); ++i) {
        auto it = known.find(digest_files[i]);
        hexes[i] = it != known.end() ? it->second : sha256_file_hex(dir + "/" + digest_files[i]);
      }
    } catch (...) {
      digest_error = std::current_exception();
    }
  });
  json report;
  try {
    report = tally_from_manifest ? build_report(dir + "/" + kManifest, run) : tally.report(run);
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

// ------------------------------------------------------------------ ScanPlan
struct ScanPlan::Impl {
  ScanOptions o;
  Policy pol;
  Inputs in;
  std::vector<File> files;

  // Calls fn(RawDoc) for each line of `file` that starts in [begin, end), as scan() reads it:
  // numbered lines, blank ones skipped, over-long ones reported by length only.
  template <class Fn>
  void for_each_line(size_t file, uint64_t begin, uint64_t end, uint64_t& lines, Fn&& fn) const {
    if (file >= in.files.size()) fail("comply: no input file number " + std::to_string(file));
    const InputFile& f = in.files[file];
    lines = 0;
    FILE* fp = std::fopen(f.path.c_str(), "rb");
    if (!fp) fail(f.path + ": cannot open");
    struct Closer {
      FILE* f;
      ~Closer() { std::fclose(f); }
    } closer{fp};
    if (!f.jsonl) {  // one document, owned by the range that starts the file
      if (begin != 0) return;
      uint64_t size = fs::file_size(f.path);
      RawDoc d;
      d.file = file;
      d.line = lines = 1;
      d.raw_len = size;
      std::string text;
      if (size > o.max_line_bytes) {
        d.too_long = true;
      } else {
        text.resize(size);
        if (size && std::fread(text.data(), 1, size, fp) != size) fail(f.path + ": read error");
      }
      d.raw = text;
      fn(d);
      return;
    }
    uint64_t pos = begin;
    if (begin > 0) {  // a line belongs to the range it starts in: skip the end of an earlier one
      if (fseeko(fp, static_cast<off_t>(begin - 1), SEEK_SET) != 0) fail(f.path + ": cannot seek");
      int c = std::getc(fp);
      if (c == EOF) return;
      while (c != '\n') {
        if ((c = std::getc(fp)) == EOF) return;
        ++pos;
      }
    }
    LineReader reader(fp);
    std::string line;
    while (pos < end) {
      line.clear();
      RawDoc d;
      d.file = file;
      uint64_t consumed = 0;
      if (!reader.next(line, o.max_line_bytes, d.too_long, consumed)) break;
      d.offset = pos;
      d.line = ++lines;
      d.raw_len = consumed;
      pos += consumed;
      if (!d.too_long && line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank
      d.raw = line;
      fn(d);
    }
  }
};

ScanPlan::ScanPlan(const ScanOptions& opts) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.o = opts;
  m.o.external_results = nullptr;
  m.pol = opts.policy_path.empty() ? default_policy() : load_policy(opts.policy_path);
  if (opts.action == Action::Pseudonymize && opts.key.empty())
    fail("--action pseudonymize needs a key (--key-file or EXAONE_COMPLY_KEY)");
  if (!opts.input.empty()) m.in = collect_inputs(opts);
  else load_cards(opts, m.in);
  for (const InputFile& f : m.in.files) m.files.push_back({f.path, f.rel, f.jsonl, fs::file_size(f.path)});
}

ScanPlan::~ScanPlan() = default;
const std::vector<ScanPlan::File>& ScanPlan::files() const { return impl_->files; }
const ScanOptions& ScanPlan::options() const { return impl_->o; }

void ScanPlan::count_range(size_t file, uint64_t begin, uint64_t end, uint64_t& lines, uint64_t& documents) const {
  documents = 0;
  impl_->for_each_line(file, begin, end, lines, [&](const RawDoc&) { ++documents; });
}

void ScanPlan::process_range(size_t file, uint64_t begin, uint64_t end, uint64_t first_line, uint64_t first_ordinal,
                             std::string& out) const {
  const Impl& m = *impl_;
  uint64_t lines = 0, ordinal = first_ordinal;
  DocResult r;
  m.for_each_line(file, begin, end, lines, [&](RawDoc& d) {
    d.line += first_line - 1;
    d.ordinal = ordinal++;
    process_doc(d, m.in.files[file], m.o, m.pol, m.in.cards, r);
    encode_result(d, r, out);
  });
}

json ScanPlan::scan_document(std::string_view text, const json& fields, const std::string& file) const {
  const Impl& m = *impl_;
  json line = fields.is_object() ? fields : json::object();
  line["text"] = std::string(text);
  std::string raw = line.dump(-1, ' ', false, json::error_handler_t::strict);
  InputFile f;
  f.rel = file;
  f.jsonl = true;
  RawDoc d;
  d.line = 1;
  d.raw = raw;
  d.raw_len = raw.size() + 1;
  DocResult r;
  process_doc(d, f, m.o, m.pol, m.in.cards, r);
  if (r.failure) std::rethrow_exception(r.failure);
  const Decision dc = decide(r, Deduper::Match(), nullptr, m.o, m.o.drop_threshold.value_or(m.pol.drop_threshold));
  std::string shard = dc.dest == Decision::Dest::Data         ? "data/" + shard_name(0)
                      : dc.dest == Decision::Dest::Quarantine ? "quarantine/" + shard_name(0)
                                                              : "";
  std::string record;
  append_record(record, r, dc, nullptr, 0, shard.empty() ? nullptr : &shard);
  return json::parse(record);
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

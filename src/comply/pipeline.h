// `exaone comply scan`: streams JSONL files and folders of text files through the detectors,
// the chosen action, the licence screen and duplicate detection, and writes
//   DIR/data/shard-NNNNN.jsonl        documents that may be used (cleaned text)
//   DIR/quarantine/shard-NNNNN.jsonl  documents held back for review (cleaned text, reason)
//   DIR/manifest.jsonl                one record per input document, whatever happened to it
//   DIR/report.json, DIR/report.html  aggregate figures and charts
//   DIR/manifest.sha256               digests that training verifies before reading (verify_manifest)
// Work is checkpointed after every batch, so an interrupted scan resumes without losing or
// repeating documents.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comply/dedup.h"
#include "comply/detect.h"
#include "comply/license.h"
#include "comply/transform.h"
#include "util/json_file.h"

namespace exaone::comply {

struct ScanOptions {
  std::string input;                    // JSONL file, text file, or folder of them
  std::string out_dir;
  std::string policy_path;              // "" = built-in default policy
  std::vector<std::string> card_paths;  // extra source cards (files or folders)
  Action action = Action::Report;
  std::string key;                      // pseudonymisation key; never written anywhere
  bool force = false;                   // replace an existing output folder
  bool resume = false;                  // continue an interrupted scan in out_dir
  DedupConfig dedup;
  bool drop_near_duplicates = false;    // near duplicates are reported; dropped only when asked
  std::optional<int> drop_threshold;    // overrides the policy's
  size_t shard_bytes = size_t(256) << 20;
  size_t batch_bytes = size_t(4) << 20;    // per checkpoint; two batches are in memory at once
  size_t max_line_bytes = size_t(64) << 20;  // longer lines are recorded as errors, not read into RAM
  int threads = 0;                      // 0 = OpenMP default
  size_t stop_after_batches = 0;        // testing: simulate an interruption after N batches
  // Distributed scans (the Python package's Ray scan): when set, scan() reads nothing itself. It
  // calls this for the next batch of per-document results, made elsewhere by ScanPlan::process_range
  // in input order, and decides, writes and reports exactly as for its own batches. Returning
  // false ends the input. Such a scan cannot be resumed.
  std::function<bool(std::string& encoded_results)> external_results;
};

struct ScanSummary {
  uint64_t documents = 0, kept = 0, quarantined = 0, excluded = 0, dropped = 0, duplicates = 0, errors = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  bool complete = false;
};

ScanSummary scan(const ScanOptions& opts);

// Per-document work (parse aside): detection, action, digests, dedup features. Exposed for the
// benchmark and tests.
struct ProcessedText {
  std::vector<Finding> findings;
  std::string output;
  bool output_is_input = false;  // nothing was changed
  std::string sha_in, sha_out;
  ExactKey key;
  std::vector<uint32_t> signature;
};
ProcessedText process_text(std::string_view text, Action action, std::string_view key, double min_confidence,
                           const DedupConfig& dedup);

// Checks DIR/manifest.sha256 against manifest.jsonl, report.json and every shard; throws Error
// naming the first file that is missing or altered. Returns the number of files verified.
size_t verify_manifest(const std::string& dir);

json finding_to_json(const Finding& f);

// The per-document stage of scan(), for running it on other threads, processes or machines
// (the Python package). A plan holds what scan() derives from its options before reading: the
// policy, the source cards and the list of input files.
class ScanPlan {
 public:
  struct File {
    std::string path, rel;    // rel: the name manifests record
    bool jsonl = false;       // else the whole file is one document
    uint64_t size = 0;
  };
  // Reads the policy and cards and lists the input files as scan() does (Error on bad input).
  // With an empty opts.input there are no files (scan_document()).
  explicit ScanPlan(const ScanOptions& opts);
  ~ScanPlan();
  const std::vector<File>& files() const;
  const ScanOptions& options() const;

  // Lines of input file `file` that start in bytes [begin, end): how many, and how many of them
  // are documents (not blank). A text file is one line and one document.
  void count_range(size_t file, uint64_t begin, uint64_t end, uint64_t& lines, uint64_t& documents) const;
  // Processes those lines, numbered from `first_line` in the file and `first_ordinal` in the scan,
  // and appends their results, encoded for ScanOptions::external_results. Thread-safe.
  void process_range(size_t file, uint64_t begin, uint64_t end, uint64_t first_line, uint64_t first_ordinal,
                     std::string& out) const;

  // The manifest record `comply scan` would write for `text` as the only document of a JSONL
  // file named `file`: no duplicates, and a kept document lands in data/shard-00000.jsonl.
  // `fields` may hold id, source, license, url, author, date.
  json scan_document(std::string_view text, const json& fields, const std::string& file = "input.jsonl") const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace exaone::comply

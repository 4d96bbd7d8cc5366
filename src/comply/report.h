// report.json and report.html. The figures are tallied while the manifest is written (one
// ReportTally per scan, saved in every checkpoint), so the report never re-reads the manifest
// and is the same whether or not the scan was resumed. build_report() tallies an existing
// manifest instead. HTML is self-contained: tables and inline SVG bar charts, no scripts or
// external resources.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "comply/detect.h"
#include "util/json_file.h"

namespace exaone::comply {

class ReportTally {
 public:
  enum class Duplicate { None, Exact, Near };
  // One manifest record, as far as the report is concerned.
  struct Document {
    std::string_view id, source, decision, license, license_status;
    std::string_view first_reason;  // "" when there is none
    Duplicate duplicate = Duplicate::None;
  };
  void add_document(const Document& d, const std::vector<Finding>& findings);
  // Joins `id` to the duplicate cluster of `of`. Clusters are not part of counters(): they
  // grow with the corpus, and a resumed scan rebuilds them from its duplicate index instead.
  void link_duplicate(std::string_view id, std::string_view of, Duplicate kind);

  // Everything but the clusters, for the checkpoint; restore_counters() takes it back.
  json counters() const;
  void restore_counters(const json& saved);

  json report(const json& run_info);

 private:
  using Counts = std::map<std::string, uint64_t, std::less<>>;
  // Union-find over ids (numbered as first seen), so chains (C near B, B near A) form one
  // cluster rooted at A.
  struct Clusters {
    std::unordered_map<std::string, uint32_t> number;
    std::vector<std::string> ids;
    std::vector<uint32_t> parent;
    std::vector<int8_t> kind;  // of the id's own duplicate link: -1 none, else a Duplicate
    uint32_t intern(std::string_view id);
    uint32_t find(uint32_t x);
  };
  uint64_t documents_ = 0, with_findings_ = 0, exact_ = 0, near_ = 0, text_documents_ = 0;
  Counts decisions_, by_type_, licenses_, license_status_, documents_by_source_;
  std::map<std::string, Counts, std::less<>> by_source_;  // source -> type -> count
  std::vector<std::vector<std::string>> quarantined_;    // {id, source, reason}
  std::vector<std::vector<std::string>> errors_;         // {id, reason}
  Clusters clusters_;
};

json build_report(const std::string& manifest_path, const json& run_info);
std::string render_report_html(const json& report);

}  // namespace exaone::comply

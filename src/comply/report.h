// Builds DIR/report.json and DIR/report.html from DIR/manifest.jsonl (one streaming pass, so
// the report is the same whether or not the scan was resumed). HTML is self-contained: tables
// and inline SVG bar charts, no scripts or external resources.
#pragma once
#include <string>

#include "util/json_file.h"

namespace exaone::comply {

json build_report(const std::string& manifest_path, const json& run_info);
std::string render_report_html(const json& report);

}  // namespace exaone::comply

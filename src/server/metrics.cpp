#include "server/metrics.h"

#include <algorithm>
#include <cstdio>

namespace exaone::server {

namespace {
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard lock(mu_);
  counts_[i]++;
  sum_ += v;
  count_++;
}

void Histogram::render(const std::string& name, std::string& out) const {
  std::lock_guard lock(mu_);
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  cum += counts_.back();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + "\n";
  out += name + "_sum " + num(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : time_to_first_token({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}),
      inter_token_latency({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      request_duration({0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  requests_[{endpoint, status}]++;
}

std::string Metrics::render(const std::map<std::string, double>& gauges) const {
  std::string out;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
           std::to_string(v) + "\n";
  };
  out += "# HELP exaone_requests_total HTTP requests by endpoint and status.\n# TYPE exaone_requests_total counter\n";
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : requests_)
      out += "exaone_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
             std::to_string(n) + "\n";
  }
  counter("exaone_prompt_tokens_total", "Prompt tokens of finished requests.", prompt_tokens.load());
  counter("exaone_generated_tokens_total", "Tokens generated.", generated_tokens.load());
  counter("exaone_prefix_cache_hit_tokens_total", "Prompt tokens whose KV was reused from the prefix cache.",
          prefix_cache_hit_tokens.load());
  counter("exaone_requests_rejected_total", "Requests answered 429 because the queue was full.",
          requests_rejected_queue_full.load());
  for (const auto& [name, v] : gauges)
    out += "# TYPE " + name + " gauge\n" + name + " " + num(v) + "\n";
  out += "# HELP exaone_time_to_first_token_seconds Time from arrival to the first generated token.\n"
         "# TYPE exaone_time_to_first_token_seconds histogram\n";
  time_to_first_token.render("exaone_time_to_first_token_seconds", out);
  out += "# HELP exaone_inter_token_latency_seconds Time between consecutive tokens of a stream.\n"
         "# TYPE exaone_inter_token_latency_seconds histogram\n";
  inter_token_latency.render("exaone_inter_token_latency_seconds", out);
  out += "# HELP exaone_request_duration_seconds Time from arrival to the last token.\n"
         "# TYPE exaone_request_duration_seconds histogram\n";
  request_duration.render("exaone_request_duration_seconds", out);
  return out;
}

}  // namespace exaone::server

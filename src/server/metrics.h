// Server metrics in the Prometheus text format (GET /metrics): request counts by endpoint and
// status, token counters, gauges sampled from the engine, and latency histograms.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace exaone::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Appends the _bucket/_sum/_count lines of metric `name`.
  void render(const std::string& name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct Metrics {
  Metrics();
  void count_request(const std::string& endpoint, int status);
  std::string render(const std::map<std::string, double>& gauges) const;

  std::atomic<uint64_t> prompt_tokens{0}, generated_tokens{0}, prefix_cache_hit_tokens{0};
  std::atomic<uint64_t> requests_rejected_queue_full{0};
  Histogram time_to_first_token, inter_token_latency, request_duration;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
};

}  // namespace exaone::server

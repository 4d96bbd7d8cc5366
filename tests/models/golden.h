// Reading the golden logits written by scripts/fixtures/make_model_fixtures.py, and measuring how
// close a model's logits come to them.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "models/model.h"
#include "util/json_file.h"

namespace exaone {

struct Golden {
  std::vector<int32_t> ids;
  std::vector<std::vector<float>> logits;  // every position, vocab_size floats each
};

inline Golden read_golden(const std::string& dir) {
  json j = read_json_file(dir + "/golden.json");
  Golden g;
  for (const auto& v : j["ids"]) g.ids.push_back(v.get<int32_t>());
  for (const auto& row : j["logits"]) g.logits.push_back(row.get<std::vector<float>>());
  return g;
}

// Largest absolute logit difference, KL(reference || ours) and top-1 agreement, the last two
// averaged over positions. logits: ref.size() rows of V.
struct Agreement {
  double max_abs = 0, mean_kl = 0, top1 = 0;
};

inline Agreement agreement(const std::vector<std::vector<float>>& ref, const float* logits, int64_t V) {
  Agreement a;
  for (size_t t = 0; t < ref.size(); ++t) {
    const float* y = logits + t * V;
    const auto& r = ref[t];
    double mr = -1e300, my = -1e300;
    int64_t ar = 0, ay = 0;
    for (int64_t v = 0; v < V; ++v) {
      a.max_abs = std::max(a.max_abs, std::fabs(double(y[v]) - r[v]));
      if (r[v] > mr) mr = r[v], ar = v;
      if (y[v] > my) my = y[v], ay = v;
    }
    double zr = 0, zy = 0;
    for (int64_t v = 0; v < V; ++v) zr += std::exp(r[v] - mr), zy += std::exp(y[v] - my);
    double kl = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double lp = r[v] - mr - std::log(zr), lq = y[v] - my - std::log(zy);
      kl += std::exp(lp) * (lp - lq);
    }
    a.mean_kl += kl;
    a.top1 += ar == ay;
  }
  a.mean_kl /= ref.size();
  a.top1 /= ref.size();
  return a;
}

// The model's logits at every position of ids, from a fresh cache.
inline std::vector<float> all_logits(Model& m, const std::vector<int32_t>& ids) {
  auto cache = m.new_cache();
  std::vector<float> logits;
  SequenceChunk c{ids, cache.get(), true};
  m.forward({&c, 1}, logits);
  return logits;
}

inline Agreement compare(Model& m, const Golden& g) {
  return agreement(g.logits, all_logits(m, g.ids).data(), m.config().vocab_size);
}

}  // namespace exaone

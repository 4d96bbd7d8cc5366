// Reading the golden logits written by scripts/fixtures/make_model_fixtures.py.
#pragma once
#include <string>
#include <vector>

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

}  // namespace exaone

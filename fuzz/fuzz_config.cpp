// libFuzzer target: config.json parsing (JSON, family selection, field types, layer layout).
#include <cstddef>
#include <cstdint>

#include "models/model.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto j = exaone::json::parse(data, data + size);
    auto c = exaone::parse_model_config(j, "config.json");
    if (static_cast<int64_t>(c.layer_sliding.size()) != c.n_layers) __builtin_trap();
  } catch (const exaone::Error&) {
  } catch (const exaone::json::exception&) {
  }
  return 0;
}

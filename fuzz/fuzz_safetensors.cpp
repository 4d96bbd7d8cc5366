// libFuzzer target: safetensors header parsing must reject or accept any bytes without crashing.
#include <cstddef>
#include <cstdint>

#include "loaders/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto views = exaone::parse_safetensors(data, size, "fuzz.safetensors");
    for (const auto& v : views) {
      // Every accepted view must lie inside the input.
      if (v.data < data || v.data + v.nbytes > data + size) __builtin_trap();
    }
  } catch (const exaone::Error&) {
  }
  return 0;
}

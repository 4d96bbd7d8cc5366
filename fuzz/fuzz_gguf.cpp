// libFuzzer target: GGUF parsing must reject or accept any bytes without crashing, and every
// accepted tensor must lie inside the input.
#include <cstddef>
#include <cstdint>

#include "loaders/gguf.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    exaone::GgufFile f = exaone::parse_gguf(data, size, "fuzz.gguf");
    for (const auto& t : f.tensors) {
      if (t.view.nbytes && (t.view.data < data || t.view.data + t.view.nbytes > data + size)) __builtin_trap();
      (void)exaone::gguf_to_hf_name("exaone4", t.name);
      (void)exaone::gguf_to_hf_name("exaone", t.name);
    }
    if (f.find("general.architecture")) (void)f.get_string("general.architecture");
  } catch (const exaone::Error&) {
  }
  return 0;
}

// libFuzzer target: LoRA adapter files (read_lora_adapter) must be rejected with an Error or read
// into consistent pairs, whatever the bytes. The first input byte picks the format: even = a GGUF
// file, odd = a PEFT folder whose adapter_config.json is the bytes up to the first "\n@@\n" and
// adapter_model.safetensors the rest. The reader takes paths, so the input goes through files.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "loaders/lora_adapter.h"
#include "util/error.h"

namespace {

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::string dir =
      (std::filesystem::temp_directory_path() / ("fuzz_lora_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string path;
  if (data[0] % 2 == 0) {
    path = dir + "/adapter.gguf";
    write_file(path, body);
  } else {
    const size_t sep = body.find("\n@@\n");
    write_file(dir + "/adapter_config.json", body.substr(0, sep));
    write_file(dir + "/adapter_model.safetensors", sep == std::string_view::npos ? "" : body.substr(sep + 4));
    path = dir;
  }
  try {
    const exaone::LoraAdapter a = exaone::read_lora_adapter(path);
    for (const auto& p : a.pairs) {
      if (p.rank <= 0 || p.a.size() != static_cast<size_t>(p.rank * p.in) ||
          p.b.size() != static_cast<size_t>(p.out * p.rank))
        __builtin_trap();
      (void)a.scale_of(p);
    }
  } catch (const exaone::Error&) {
  }
  return 0;
}

// `exaone convert`: writes a checkpoint (HF folder or GGUF) as a GGUF file for llama.cpp.
#include <cstdio>

#include "cli/cli.h"
#include "models/gguf_model.h"

namespace exaone::cli {

void register_convert_commands(CLI::App& app) {
  static std::string model, out, type = "f16";
  static bool force = false;
  auto* cmd = app.add_subcommand("convert", "write a checkpoint as GGUF (llama.cpp); tokenizer metadata not written yet");
  add_model_option(cmd, model);
  cmd->add_option("-o,--output", out, "output .gguf file")->required();
  cmd->add_option("-t,--type", type, "storage type of the matrices: f32, f16, bf16, q8_0, q4_0 (default f16)");
  cmd->add_flag("--force", force, "overwrite an existing output file");
  cmd->callback([] {
    const DType t = parse_gguf_out_type(type);
    convert_to_gguf(model, out, t, force);
    std::printf("wrote %s (%s)\n", out.c_str(), dtype_name(t));
  });
}

}  // namespace exaone::cli

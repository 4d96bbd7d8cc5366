// `exaone convert`: writes a checkpoint (HF folder or GGUF) as a GGUF file for llama.cpp, with its
// tokenizer and chat template. `exaone quantize`: re-quantises a GGUF file (llama-quantize style).
#include <cstdio>

#include "cli/cli.h"
#include "models/gguf_model.h"
#include "util/error.h"

namespace exaone::cli {

namespace {

// One stderr line per tensor written (conversion of a large model takes minutes).
GgufProgress stderr_progress() {
  return [](size_t done, size_t total, const std::string& name, DType type) {
    std::fprintf(stderr, "[%zu/%zu] %-40s %s\n", done, total, name.c_str(), dtype_name(type));
  };
}

void print_notes(const std::vector<std::string>& notes) {
  for (const auto& n : notes) std::fprintf(stderr, "note: %s\n", n.c_str());
}

const char* kTypes = "f32, f16, bf16, q8_0, q4_0, q4_k, q6_k, q4_k_m, q5_k_m, q3_k_m";

}  // namespace

void register_convert_commands(CLI::App& app) {
  static std::string model, out, type = "f16";
  static bool force = false, quiet = false;
  auto* cmd = app.add_subcommand("convert", "write a checkpoint as GGUF (llama.cpp), tokenizer and chat template included");
  add_model_option(cmd, model);
  cmd->add_option("-o,--output", out, "output .gguf file")->required();
  cmd->add_option("-t,--type", type, std::string("storage type of the matrices: ") + kTypes + " (default f16)");
  cmd->add_flag("--force", force, "overwrite an existing output file");
  cmd->add_flag("-q,--quiet", quiet, "no per-tensor progress on stderr");
  cmd->callback([] {
    const GgufOutType t = parse_gguf_out_type(type);
    print_notes(convert_to_gguf(model, out, t, force, quiet ? GgufProgress{} : stderr_progress()));
    std::printf("wrote %s (%s)\n", out.c_str(), gguf_out_type_name(t).c_str());
  });

  static std::string q_in, q_out, q_type;
  static bool q_force = false, q_quiet = false;
  auto* q = app.add_subcommand("quantize", "re-quantise a GGUF file: exaone quantize IN.gguf OUT.gguf TYPE");
  q->add_option("input", q_in, "input .gguf file")->required();
  q->add_option("output", q_out, "output .gguf file")->required();
  q->add_option("type", q_type, std::string("target type: ") + kTypes)->required();
  q->add_flag("--force", q_force, "overwrite an existing output file");
  q->add_flag("-q,--quiet", q_quiet, "no per-tensor progress on stderr");
  q->callback([] {
    const GgufOutType t = parse_gguf_out_type(q_type);
    const bool is_gguf = q_in.size() > 5 && q_in.compare(q_in.size() - 5, 5, ".gguf") == 0;
    if (!is_gguf) fail(q_in + ": quantize takes a .gguf file (use `exaone convert` for a model folder)");
    print_notes(convert_to_gguf(q_in, q_out, t, q_force, q_quiet ? GgufProgress{} : stderr_progress()));
    std::printf("wrote %s (%s)\n", q_out.c_str(), gguf_out_type_name(t).c_str());
  });
}

}  // namespace exaone::cli

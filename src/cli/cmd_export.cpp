// `exaone export`: a model as a Hugging Face folder (or GGUF) with a model card. Thin: the work is
// in src/train/export.cpp.
#include <cstdio>

#include "cli/cli.h"
#include "train/export.h"

namespace exaone::cli {

void register_export_commands(CLI::App& app) {
  static std::string model, out;
  static train::ExportOptions o;
  auto* cmd = app.add_subcommand(
      "export", "write a model (HF folder, training output or checkpoint, GGUF) as a Hugging Face folder that "
                "transformers loads, or as GGUF, with a model card");
  add_model_option(cmd, model);
  cmd->add_option("-o,--output", out, "output folder (must be empty unless --force)")->required();
  cmd->add_option("--format", o.format, "hf (default) or gguf");
  cmd->add_option("--dtype", o.dtype,
                  "hf: f32 (default), bf16 or f16; gguf: f32, f16 (default), bf16, q8_0, q4_0, q4_k, q6_k, q4_k_m, "
                  "q5_k_m, q3_k_m");
  cmd->add_flag("--force", o.force, "write into a non-empty folder (replaces the files export writes, nothing else)");
  cmd->add_option("--tokenizer", o.tokenizer, "tokenizer folder when the model has none next to it");
  cmd->add_flag("--no-tokenizer", o.no_tokenizer, "export the weights without a tokenizer (the card says so)");
  cmd->add_option("--data", o.data_dirs,
                  "`exaone comply scan` folder of the training data (repeatable): its sources and licences go into "
                  "the card, checked against the recorded manifest digest");
  cmd->add_option("--name", o.name, "model name in the card (default: the output folder's name)");
  cmd->callback([] {
    const train::ExportResult r = train::export_model(model, out, o);
    for (const auto& n : r.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    std::printf("exported %s to %s:", model.c_str(), out.c_str());
    for (const auto& f : r.files) std::printf(" %s", f.c_str());
    std::printf("\n");
  });
}

}  // namespace exaone::cli

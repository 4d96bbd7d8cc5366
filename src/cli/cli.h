// The `exaone` command line. Each group of subcommands lives in its own cmd_*.cpp and is
// registered here; callbacks throw exaone::Error for bad input (printed, exit code 2).
#pragma once
#include <CLI/CLI.hpp>

#include "util/dtype.h"
#include <string>
#include <vector>

namespace exaone::cli {

int main(int argc, char** argv);

void register_model_commands(CLI::App& app);      // run, chat, logits, info      (cmd_model.cpp)
void register_tokenizer_commands(CLI::App& app);  // tokenize, detokenize         (cmd_tokenizer.cpp)
void register_template_commands(CLI::App& app);   // template                     (cmd_template.cpp)
void register_comply_commands(CLI::App& app);     // comply scan ...              (cmd_comply.cpp)
void register_convert_commands(CLI::App& app);    // convert, quantize (GGUF)     (cmd_convert.cpp)
void register_bench_commands(CLI::App& app);      // bench, perplexity, make-model (cmd_bench.cpp)
void register_serve_commands(CLI::App& app);      // serve                        (cmd_serve.cpp)
void register_train_commands(CLI::App& app);      // train                        (cmd_train.cpp)
void register_finetune_commands(CLI::App& app);   // finetune                     (cmd_finetune.cpp)
void register_tokenizer_train_commands(CLI::App& app);  // tokenizer-train  (cmd_tokenizer_train.cpp)
void register_export_commands(CLI::App& app);     // export                       (cmd_export.cpp)

// Shared helpers for commands.
std::vector<int> parse_id_list(const std::string& text);  // "1,2,3" -> {1,2,3}; Error on junk
// "f32" | "f16" | "bf16" | "q8_0" -> storage type of the KV cache (`--kv-type`); Error otherwise.
DType parse_kv_type(const std::string& name);
// Adds `-m,--model` (defaulting to the bundled model) to a subcommand.
void add_model_option(CLI::App* cmd, std::string& model);

}  // namespace exaone::cli

#include "cli/cli.h"

#include <cstdio>
#include <iostream>

#include "util/error.h"
#include "util/paths.h"

namespace exaone::cli {

std::vector<int> parse_id_list(const std::string& text) {
  std::vector<int> ids;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(',', i);
    if (j == std::string::npos) j = text.size();
    std::string item = text.substr(i, j - i);
    while (!item.empty() && isspace(static_cast<unsigned char>(item.front()))) item.erase(item.begin());
    while (!item.empty() && isspace(static_cast<unsigned char>(item.back()))) item.pop_back();
    if (item.empty()) fail("--ids: empty item at position " + std::to_string(ids.size()));
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used != item.size() || v < 0 || v > 0x7fffffff)
      fail("--ids: item " + std::to_string(ids.size()) + " ('" + item + "') is not a token id");
    ids.push_back(static_cast<int>(v));
    i = j + 1;
  }
  if (ids.empty()) fail("--ids: no token ids given");
  return ids;
}

DType parse_kv_type(const std::string& name) {
  if (name == "f32") return DType::F32;
  if (name == "f16") return DType::F16;
  if (name == "bf16") return DType::BF16;
  if (name == "q8_0") return DType::Q8_0;
  fail("--kv-type: unknown type '" + name + "' (f32, f16, bf16, q8_0)");
}

void add_model_option(CLI::App* cmd, std::string& model) {
  model = default_model_path();
  cmd->add_option("-m,--model", model,
                  "model: Hugging Face folder or .gguf file (default: $EXAONE_MODEL or the bundled models/exaone4-demo)");
}

int main(int argc, char** argv) {
  CLI::App app{"exaone.cpp: run, serve, train and govern EXAONE models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "exaone 0.1.0");
  register_model_commands(app);
  register_tokenizer_commands(app);
  register_template_commands(app);
  register_comply_commands(app);
  register_convert_commands(app);
  register_bench_commands(app);
  register_serve_commands(app);
  register_train_commands(app);
  register_finetune_commands(app);
  register_tokenizer_train_commands(app);
  register_export_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0; a malformed command line is bad input.
    return app.exit(e) == 0 ? 0 : kExitBadInput;
  } catch (const Error& e) {
    std::fflush(stdout);
    std::cerr << "error: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace exaone::cli

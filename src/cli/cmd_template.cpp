// `exaone template`: renders a chat request with the model's chat format, byte for byte what the
// model would be fed (no trailing newline added), or as {"prompt": "..."} with --json.
#include <sys/stat.h>

#include <cstdio>

#include "chat/chat_template.h"
#include "cli/cli.h"
#include "runtime/model_files.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone::cli {

namespace {

struct TemplateArgs {
  std::string model;
  std::string request;
  bool as_json = false;
};

void run_template(const TemplateArgs& a) {
  struct stat st {};
  if (::stat(a.model.c_str(), &st) != 0) fail("--model: " + a.model + ": not found");
  if (!S_ISDIR(st.st_mode) && !is_gguf_path(a.model))
    fail("--model: " + a.model + ": expected a model folder with config.json and a chat template, or a .gguf file");
  chat::Format format = load_chat_format(a.model);
  json request = read_json_file(a.request);
  std::string prompt;
  try {
    prompt = chat::render(format, request);
  } catch (const Error& e) {
    fail(a.request + ": " + e.what());
  }
  if (a.as_json) {
    json out = json::object();
    out["prompt"] = prompt;
    std::string text = out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  }
  std::fflush(stdout);
}

}  // namespace

void register_template_commands(CLI::App& app) {
  auto args = std::make_shared<TemplateArgs>();
  CLI::App* cmd = app.add_subcommand("template", "render a chat request (OpenAI JSON body) into the model's prompt text");
  add_model_option(cmd, args->model);
  cmd->add_option("--request", args->request, "request JSON file: {messages, tools, add_generation_prompt, chat_template_kwargs}")
      ->required();
  cmd->add_flag("--json", args->as_json, "print {\"prompt\": \"...\"} instead of the raw prompt bytes");
  cmd->callback([args]() { run_template(*args); });
}

}  // namespace exaone::cli

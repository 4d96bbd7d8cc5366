// `exaone serve`: flags in, server out (the server itself lives in src/server/).
#include <fstream>

#include "cli/cli.h"
#include "models/lora.h"
#include "server/http_server.h"
#include "util/error.h"

namespace exaone::cli {

namespace {

std::string read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("--api-key-file: cannot open " + path);
  std::string key;
  std::getline(in, key);
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
  if (key.empty()) fail("--api-key-file: " + path + " holds no key on its first line");
  return key;
}

}  // namespace

void register_serve_commands(CLI::App& app) {
  static server::ServerOptions o;
  static std::string kv_type = "f32", key_file;
  static int exit_code = 0;
  auto* cmd = app.add_subcommand("serve", "OpenAI- and Ollama-compatible HTTP server with continuous batching");
  add_model_option(cmd, o.model_path);
  cmd->add_option("--host", o.host, "address to bind (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", o.port, "port (0: any free port)")->check(CLI::Range(0, 65535));
  auto* key = cmd->add_option("--api-key", o.api_key, "require 'Authorization: Bearer KEY' (not for /health)");
  cmd->add_option("--api-key-file", key_file, "read the API key from the first line of a file")->excludes(key);
  cmd->add_option("--parallel,--np", o.parallel, "sequences decoded together (KV slots)")->check(CLI::Range(1, 256));
  cmd->add_option("-c,--ctx", o.context, "context length per sequence (default: the model's)");
  cmd->add_option("--kv-type", kv_type, "KV cache storage: f32 (default), f16, bf16, q8_0");
  cmd->add_option("--max-queue", o.max_queue, "requests that may wait for a slot before 429 (default 256)");
  cmd->add_option("--max-tokens-limit", o.max_tokens_limit, "most tokens one request may ask for (default: the context)");
  cmd->add_option("--model-name", o.model_name, "name the APIs list (default: the model folder's name)");
  cmd->add_option("--max-body-bytes", o.max_body_bytes, "largest request body accepted (default 8 MiB)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 34));
  cmd->add_option("--prefill-chunk", o.prefill_chunk, "most prompt tokens read per step (default 512)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--request-timeout", o.request_timeout_s, "seconds a request may take, queue included (default 600)")
      ->check(CLI::Range(0.001, 1e7));
  cmd->add_option("--lora", o.lora, kLoraOptionHelp);
  cmd->add_option("--http-threads", o.http_threads, "HTTP worker threads (default: enough for every slot and queue place)");
  cmd->callback([] {
    o.kv_type = parse_kv_type(kv_type);
    if (!key_file.empty()) o.api_key = read_key_file(key_file);
    exit_code = server::serve(o);
    if (exit_code != 0) std::exit(exit_code);
  });
}

}  // namespace exaone::cli

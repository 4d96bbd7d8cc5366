// `exaone serve`: the HTTP server (cpp-httplib) in front of the engine: routes, API keys,
// request-size limits, metrics, the web chat page, and clean shutdown.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "util/dtype.h"

namespace exaone::server {

struct ServerOptions {
  std::string model_path;
  std::string host = "127.0.0.1";
  int port = 8080;                // 0: any free port
  std::string api_key;            // empty: no authentication
  int parallel = 8;
  int64_t context = 0;            // 0: the model's
  DType kv_type = DType::F32;
  size_t max_queue = 256;
  int64_t max_tokens_limit = 0;   // 0: the context
  std::string model_name;         // empty: the model folder's (or file's) name
  size_t max_body_bytes = 8 << 20;
  int64_t prefill_chunk = 512;
  double request_timeout_s = 600;  // per request, queue wait included
  int http_threads = 0;            // 0: enough for parallel + max_queue streams
  std::vector<std::string> lora;   // --lora PATH[:SCALE]: adapters applied to every request (unmerged)
};

// Loads the model, binds, prints "exaone serve: listening on http://HOST:PORT" to stderr, and
// serves until SIGINT/SIGTERM (or stop()). Returns the process exit code.
int serve(const ServerOptions& options);

}  // namespace exaone::server

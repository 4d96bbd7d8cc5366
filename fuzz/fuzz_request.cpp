// libFuzzer target: the OpenAI and Ollama request parsers (JSON body -> job). Any input must give
// a job or an ApiError with a 4xx status; never a crash, a hang or another exception.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/api.h"
#include "server/ollama_api.h"
#include "server/openai_api.h"
#include "util/error.h"
#include "util/paths.h"

using namespace exaone;
using namespace exaone::server;

namespace {
struct Served {
  Tokenizer tok = Tokenizer::from_model_path(path_join(project_home(), "models/exaone4-tiny"));
  ServedModel m;
  Served() {
    m.tokenizer = &tok;
    m.name = "exaone4-tiny";
    m.context = 256;
    m.max_tokens_limit = 128;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Served s;
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The first byte picks the endpoint; the rest is the body.
  const int which = size > 0 ? data[0] % 4 : 0;
  const std::string body = size > 0 ? text.substr(1) : text;
  try {
    const json j = parse_body(body);
    bool load_only = false;
    switch (which) {
      case 0: openai::parse_chat(s.m, j); break;
      case 1: openai::parse_completion(s.m, j); break;
      case 2: ollama::parse_chat(s.m, j); break;
      default: ollama::parse_generate(s.m, j, load_only); break;
    }
  } catch (const ApiError& e) {
    if (e.status < 400 || e.status >= 500) std::abort();
  }
  return 0;
}

// The Ollama API (/api/chat, /api/generate, /api/tags, /api/show, /api/version), so ollama
// clients work unchanged: requests into jobs, output into NDJSON lines or one object.
#pragma once
#include <string>

#include "server/api.h"

namespace exaone::server::ollama {

struct Request {
  Job job;
  bool stream = true;
  bool chat = true;  // /api/chat (message objects) or /api/generate (response strings)
  Clock::time_point start = Clock::now();
};

Request parse_chat(const ServedModel& m, const json& body);
// /api/generate. An empty prompt only "loads" the model: `load_only` is set and no job is built.
Request parse_generate(const ServedModel& m, const json& body, bool& load_only);

// One NDJSON line (with "\n") per update while streaming; the done line carries the counts.
class Writer {
 public:
  Writer(const ServedModel& m, const Request& r) : m_(m), r_(r) {}
  std::string update(const Update& u);  // streaming
  json final_object(const Completed& c) const;  // stream: false
  std::string load_line() const;

 private:
  json base(bool done) const;
  void add_counts(json& j, const std::string& finish_reason, int64_t prompt_tokens, int64_t completion_tokens) const;
  const ServedModel& m_;
  const Request& r_;
};

json tags(const ServedModel& m);
json show(const ServedModel& m);
json version();
std::string iso_time_now();

}  // namespace exaone::server::ollama

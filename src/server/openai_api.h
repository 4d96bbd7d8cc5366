// The OpenAI API: request bodies of /v1/chat/completions and /v1/completions turned into jobs,
// and jobs' output into response bodies and SSE chunks. No HTTP here (http_server.cpp), so the
// request parser can be tested and fuzzed alone.
#pragma once
#include <string>

#include "server/api.h"

namespace exaone::server::openai {

struct Request {
  Job job;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
  std::string id;       // chatcmpl-... / cmpl-...
  int64_t created = 0;  // unix seconds
};

// Throws ApiError (4xx) naming the field for anything malformed or unsupported.
Request parse_chat(const ServedModel& m, const json& body);
Request parse_completion(const ServedModel& m, const json& body);

// Non-streaming bodies.
json chat_response(const ServedModel& m, const Request& r, const Completed& c);
json completion_response(const ServedModel& m, const Request& r, const Completed& c);

// Streaming: the SSE events ("data: {...}\n\n") for one update of a running job. `first` adds
// the assistant role delta. The last update adds the finish chunk, the usage chunk when asked,
// and "data: [DONE]".
class ChatStreamWriter {
 public:
  ChatStreamWriter(const ServedModel& m, const Request& r) : m_(m), r_(r) {}
  std::string start();
  std::string update(const Update& u);
  std::string error(const std::string& message, int status = 500);

 private:
  json chunk(json delta, const json& finish_reason) const;
  const ServedModel& m_;
  const Request& r_;
  int tool_index_ = 0;
};

class CompletionStreamWriter {
 public:
  CompletionStreamWriter(const ServedModel& m, const Request& r) : m_(m), r_(r) {}
  std::string update(const Update& u);
  std::string error(const std::string& message, int status = 500);

 private:
  const ServedModel& m_;
  const Request& r_;
};

// /v1/models
json models_list(const ServedModel& m);
// OpenAI logprobs.content entries for generated tokens.
json logprobs_content(const Tokenizer& tok, const std::vector<TokenLogprob>& lp);

std::string sse(const json& j);

}  // namespace exaone::server::openai

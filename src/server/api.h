// What the OpenAI and Ollama endpoints share: the served model, request-field readers that
// answer 4xx with the field and the reason, the translation of a chat request into an engine
// request (template, sampling, grammar), and the stream of parsed output (reasoning, content,
// tool calls) of a running request.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "chat/output_parser.h"
#include "models/model.h"
#include "server/engine.h"
#include "server/metrics.h"
#include "server/tool_stream.h"
#include "tokenizer/tokenizer.h"
#include "util/json_file.h"

namespace exaone::server {

// A request the server refuses: HTTP status, message naming the field, and the field (OpenAI's
// error `param`).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = "", std::string type = "")
      : std::runtime_error(message), status(status), param(std::move(param)), type(std::move(type)) {}
  int status;
  std::string param;
  std::string type;  // OpenAI error type; empty: derived from the status
};
[[noreturn]] void bad_request(const std::string& param, const std::string& message);
// {"error": {"message", "type", "param", "code"}}
json error_body(int status, const std::string& message, const std::string& param = "", const std::string& type = "");

struct ServedModel {
  Model* model = nullptr;      // null in the request-parser fuzzer
  ModelConfig config;          // sampling defaults (generation_config.json)
  int64_t context = 0;         // the engine's context length per sequence
  int64_t parameters = 0;      // for /v1/models and /api/show
  std::string weight_types;    // "Q4_0+F32", for /api/tags
  const Tokenizer* tokenizer = nullptr;
  chat::Format format = chat::Format::Exaone4;
  std::string name;            // what /v1/models and /api/tags list
  std::string path;            // the model's folder or file
  std::string chat_template;   // template text (for /api/show)
  int64_t max_tokens_limit = 0;  // most tokens one request may ask for (0: the context)
  int64_t created = 0;           // unix time the server started
};

// Typed optional fields of a request body: wrong types or ranges are a 400 naming the field.
std::optional<double> field_number(const json& body, const char* key, double lo, double hi);
std::optional<int64_t> field_int(const json& body, const char* key, int64_t lo, int64_t hi);
std::optional<bool> field_bool(const json& body, const char* key);
std::optional<std::string> field_string(const json& body, const char* key);
// `stop`: a string or a list of strings (at most 16).
std::vector<std::string> field_stop(const json& body, const char* key);

// Parses a request body: a 400 for malformed JSON or a body that is not an object.
json parse_body(const std::string& body);

// Sampling and limits common to both APIs, already read from the request (OpenAI fields or
// Ollama options); unset fields take generation_config.json's values, then EXAONE's advice
// (reasoning: temperature 0.6, top-p 0.95; otherwise greedy).
struct SamplingFields {
  std::optional<double> temperature, top_p, min_p, repetition_penalty, presence_penalty, frequency_penalty;
  std::optional<int64_t> top_k, seed, max_tokens;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // generate max_tokens whatever the model says (benchmarks; llama.cpp's and vLLM's field)
};

// A rendered chat or completion, ready for the engine.
struct Job {
  GenerationRequest gen;
  bool chat = true;               // parse reasoning and tool calls out of the text
  chat::ParseOptions parse;
  bool tool_choice_forced = false;  // "required" or a named function
};

// What the client asked of tools and output shape.
struct ChatShape {
  json tools;                  // null or the OpenAI tools list
  std::string tool_choice = "auto";  // auto | none | required | function
  std::string tool_name;       // tool_choice function
  bool parallel_tool_calls = true;
  json response_schema;        // null: free text; else the JSON schema the content must follow
  std::optional<bool> enable_thinking;  // unset: the chat template's default
};

// Renders `messages` (OpenAI shape) with the model's chat format and fills the engine request.
// `extra_render` carries fields for the template (chat_template_kwargs).
Job build_chat_job(const ServedModel& m, const json& messages, const ChatShape& shape, const SamplingFields& s,
                   const json& chat_template_kwargs);
// A plain completion of `prompt` (no chat format).
Job build_completion_job(const ServedModel& m, std::vector<int> prompt, const SamplingFields& s);

// The OpenAI tools list validated (type function, name, parameters object).
json validate_tools(const json& tools, const char* param);

// The output of a running job, parsed as it arrives (job_stream.cpp).
struct Update {
  chat::StreamDelta delta;          // chat jobs: reasoning / content / tool calls
  std::vector<ToolCallDelta> tool_deltas;  // streamed tool calls (grammar-constrained jobs, streaming)
  std::string text;                 // completion jobs: raw text
  std::vector<TokenLogprob> logprobs;
  bool done = false;
  std::string finish_reason;        // stop | length | tool_calls | error | cancelled
  std::string error;
  int error_status = 500;           // HTTP status of `error`: 408 timed out in the queue, 503 shutting down
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
};

class JobStream {
 public:
  // `stream_tool_arguments`: a streaming client gets grammar-constrained tool calls piece by piece
  // (Update::tool_deltas) instead of whole ones.
  JobStream(std::shared_ptr<RequestHandle> handle, const Job& job, bool stream_tool_arguments = false);
  ~JobStream();  // cancels the request if it has not finished (client gone)
  // Waits up to `timeout` for output; false when nothing arrived.
  bool next(Update& out, std::chrono::milliseconds timeout);
  void cancel() { handle_->cancel(); }
  bool finished() const { return finished_; }
  // Everything parsed so far (chat jobs).
  const chat::ParsedOutput& accumulated() const { return parser_.accumulated(); }
  bool saw_tool_calls() const { return saw_tool_calls_; }

 private:
  std::shared_ptr<RequestHandle> handle_;
  bool chat_;
  chat::StreamParser parser_;
  std::optional<ToolCallStreamer> tools_;  // set when tool arguments stream
  bool finished_ = false;
  bool saw_tool_calls_ = false;
};

// Runs a job to the end (non-streaming answers). Throws ApiError on engine errors.
struct Completed {
  chat::ParsedOutput parsed;  // chat jobs
  std::string text;           // completion jobs
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
};
Completed run_to_end(Engine& engine, const Job& job);
// Submits; QueueFull and engine refusals become ApiError (429 / 400).
std::shared_ptr<RequestHandle> submit_job(Engine& engine, const Job& job);

std::string random_id(const std::string& prefix);

}  // namespace exaone::server

// The engine side of the APIs: submitting a job and reading its output, parsed as it arrives.
#include "server/api.h"
#include "util/error.h"

namespace exaone::server {

std::shared_ptr<RequestHandle> submit_job(Engine& engine, const Job& job) {
  try {
    return engine.submit(job.gen);
  } catch (const QueueFull&) {
    throw ApiError(429, "the server is busy: the request queue is full, retry later");
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.find("shutting down") != std::string::npos) throw ApiError(503, msg);
    throw ApiError(400, msg);
  }
}

namespace {
chat::ParseOptions without_tool_calls(chat::ParseOptions o) {
  o.tool_calls = false;
  return o;
}
}  // namespace

JobStream::JobStream(std::shared_ptr<RequestHandle> handle, const Job& job, bool stream_tool_arguments)
    : handle_(std::move(handle)),
      chat_(job.chat),
      // Constrained tool calls: the parser leaves the blocks in the content and ToolCallStreamer
      // turns them into pieces as they are written.
      parser_(stream_tool_arguments && job.tool_choice_forced ? without_tool_calls(job.parse) : job.parse) {
  if (stream_tool_arguments && job.tool_choice_forced) tools_.emplace();
}

JobStream::~JobStream() {
  if (!finished_) handle_->cancel();
}

bool JobStream::next(Update& out, std::chrono::milliseconds timeout) {
  Progress p;
  if (finished_ || !handle_->wait(p, timeout)) return false;
  out = Update{};
  if (chat_) {
    out.delta = parser_.push(p.text);
    if (p.done) {
      chat::StreamDelta last = parser_.finish();
      out.delta.reasoning += last.reasoning;
      out.delta.content += last.content;
      out.delta.tool_calls.insert(out.delta.tool_calls.end(), last.tool_calls.begin(), last.tool_calls.end());
    }
    if (tools_) {
      out.tool_deltas = tools_->push(out.delta.content);
      out.delta.content.clear();
      if (tools_->calls() > 0) saw_tool_calls_ = true;
    }
    if (!out.delta.tool_calls.empty()) saw_tool_calls_ = true;
  } else {
    out.text = std::move(p.text);
  }
  out.logprobs = std::move(p.logprobs);
  out.prompt_tokens = p.prompt_tokens;
  out.cached_tokens = p.cached_tokens;
  out.completion_tokens = p.completion_tokens;
  if (p.done) {
    finished_ = true;
    out.done = true;
    out.error = p.error;
    out.finish_reason = p.finish_reason;
    if (out.finish_reason == "stop" && saw_tool_calls_) out.finish_reason = "tool_calls";
    if (out.finish_reason == "timeout") {
      out.finish_reason = "error";
      out.error_status = 408;
    } else if (out.error.find("shutting down") != std::string::npos) {
      out.error_status = 503;
    }
  }
  return true;
}

Completed run_to_end(Engine& engine, const Job& job) {
  JobStream stream(submit_job(engine, job), job);
  Completed c;
  Update u;
  while (!stream.finished()) {
    if (!stream.next(u, std::chrono::milliseconds(1000))) continue;
    c.text += u.text;
    c.logprobs.insert(c.logprobs.end(), u.logprobs.begin(), u.logprobs.end());
    if (u.done) {
      if (u.finish_reason == "error") throw ApiError(u.error_status, u.error);
      c.finish_reason = u.finish_reason;
      c.prompt_tokens = u.prompt_tokens;
      c.cached_tokens = u.cached_tokens;
      c.completion_tokens = u.completion_tokens;
    }
  }
  if (job.chat) c.parsed = stream.accumulated();
  return c;
}

}  // namespace exaone::server

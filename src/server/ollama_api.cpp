#include "server/ollama_api.h"

#include <cstdio>
#include <ctime>

#include "util/error.h"

namespace exaone::server::ollama {

namespace {

// Ollama's "options" object (unknown keys ignored, as ollama does for model-specific ones).
SamplingFields options_fields(const json& body) {
  SamplingFields f;
  auto it = body.find("options");
  if (it == body.end() || it->is_null()) return f;
  if (!it->is_object()) bad_request("options", "expected an object");
  const json& o = *it;
  try {
    f.temperature = field_number(o, "temperature", 0, 100);
    f.top_p = field_number(o, "top_p", 0, 1);
    f.top_k = field_int(o, "top_k", 0, 1 << 30);
    f.min_p = field_number(o, "min_p", 0, 1);
    f.repetition_penalty = field_number(o, "repeat_penalty", 1e-3, 100);
    f.presence_penalty = field_number(o, "presence_penalty", -100, 100);
    f.frequency_penalty = field_number(o, "frequency_penalty", -100, 100);
    f.seed = field_int(o, "seed", INT64_MIN, INT64_MAX);
    if (auto n = field_int(o, "num_predict", -2, INT64_MAX); n && *n > 0) f.max_tokens = *n;  // -1/-2: no limit
    f.stop = field_stop(o, "stop");
  } catch (const ApiError& e) {
    throw ApiError(e.status, std::string("options.") + e.what(), "options." + e.param);
  }
  return f;
}

std::optional<bool> think_field(const json& body) {
  auto it = body.find("think");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) return it->get<std::string>() != "none" && it->get<std::string>() != "false";
  bad_request("think", "expected a boolean");
}

void format_field(const json& body, ChatShape& shape) {
  auto it = body.find("format");
  if (it == body.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty())) return;
  if (it->is_string()) {
    if (it->get<std::string>() != "json") bad_request("format", "expected \"json\" or a JSON schema");
    shape.response_schema = {{"type", "object"}};
  } else if (it->is_object()) {
    shape.response_schema = *it;
  } else {
    bad_request("format", "expected \"json\" or a JSON schema");
  }
}

// Ollama messages -> the OpenAI shape the chat formats read.
json openai_messages(const json& body) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) bad_request("messages", "is required");
  if (!it->is_array()) bad_request("messages", "expected a list of messages");
  if (it->empty()) bad_request("messages", "must contain at least one message");
  json out = json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    const json& msg = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!msg.is_object()) bad_request(where, "expected an object");
    if (!msg.contains("role") || !msg["role"].is_string()) bad_request(where + ".role", "expected a string");
    const std::string role = msg["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      bad_request(where + ".role", "unknown role '" + role + "' (system, user, assistant, tool)");
    if (msg.contains("images") && msg["images"].is_array() && !msg["images"].empty())
      bad_request(where + ".images", "images are not supported (text-only model)");
    json m = {{"role", role}};
    if (msg.contains("content") && !msg["content"].is_null()) {
      if (!msg["content"].is_string()) bad_request(where + ".content", "expected a string");
      m["content"] = msg["content"];
    } else {
      m["content"] = "";
    }
    if (msg.contains("thinking") && msg["thinking"].is_string()) m["reasoning_content"] = msg["thinking"];
    if (msg.contains("tool_calls") && msg["tool_calls"].is_array() && !msg["tool_calls"].empty()) {
      json calls = json::array();
      for (size_t k = 0; k < msg["tool_calls"].size(); ++k) {
        const json& c = msg["tool_calls"][k];
        const std::string cw = where + ".tool_calls[" + std::to_string(k) + "]";
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object() ||
            !c["function"].contains("name") || !c["function"]["name"].is_string())
          bad_request(cw, "expected {\"function\": {\"name\": ..., \"arguments\": {...}}}");
        calls.push_back({{"type", "function"},
                         {"function", {{"name", c["function"]["name"]},
                                       {"arguments", c["function"].value("arguments", json::object())}}}});
      }
      m["tool_calls"] = calls;
    }
    out.push_back(std::move(m));
  }
  return out;
}

int64_t ns_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count();
}

json tool_calls_json(const std::vector<chat::ToolCall>& calls) {
  json out = json::array();
  for (const auto& c : calls) out.push_back({{"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return out;
}

json details(const ServedModel& m) {
  const ModelConfig& c = m.config;
  const double b = static_cast<double>(m.parameters);
  char size[32];
  if (b >= 1e9) std::snprintf(size, sizeof size, "%.1fB", b / 1e9);
  else std::snprintf(size, sizeof size, "%.1fM", b / 1e6);
  const bool gguf = m.path.size() > 5 && m.path.substr(m.path.size() - 5) == ".gguf";
  return {{"parent_model", ""},
          {"format", gguf ? "gguf" : "safetensors"},
          {"family", c.model_type},
          {"families", json::array({c.model_type})},
          {"parameter_size", size},
          {"quantization_level", m.weight_types}};
}

}  // namespace

std::string iso_time_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Request parse_chat(const ServedModel& m, const json& body) {
  Request r;
  r.chat = true;
  r.stream = field_bool(body, "stream").value_or(true);
  json messages = openai_messages(body);
  ChatShape shape;
  if (auto it = body.find("tools"); it != body.end()) shape.tools = validate_tools(*it, "tools");
  format_field(body, shape);
  shape.enable_thinking = think_field(body);
  r.job = build_chat_job(m, messages, shape, options_fields(body), json::object());
  return r;
}

Request parse_generate(const ServedModel& m, const json& body, bool& load_only) {
  Request r;
  r.chat = false;
  r.stream = field_bool(body, "stream").value_or(true);
  load_only = false;
  const std::string prompt = field_string(body, "prompt").value_or("");
  if (body.contains("images") && body["images"].is_array() && !body["images"].empty())
    bad_request("images", "images are not supported (text-only model)");
  if (auto s = field_string(body, "suffix"); s && !s->empty()) bad_request("suffix", "is not supported");
  if (prompt.empty()) {
    load_only = true;
    return r;
  }
  const SamplingFields f = options_fields(body);
  if (field_bool(body, "raw").value_or(false)) {
    r.job = build_completion_job(m, m.tokenizer->encode(prompt), f);
    return r;
  }
  json messages = json::array();
  if (auto sys = field_string(body, "system"); sys && !sys->empty()) messages.push_back({{"role", "system"}, {"content", *sys}});
  messages.push_back({{"role", "user"}, {"content", prompt}});
  ChatShape shape;
  format_field(body, shape);
  shape.enable_thinking = think_field(body);
  r.job = build_chat_job(m, messages, shape, f, json::object());
  r.job.parse.tool_calls = false;
  return r;
}

// The last line's fields: why it ended, token counts and durations (nanoseconds, as ollama reports them;
// prompt reading is not timed apart from generation here).
void Writer::add_counts(json& j, const std::string& finish_reason, int64_t prompt_tokens, int64_t completion_tokens) const {
  j["done_reason"] = finish_reason == "tool_calls" ? "stop" : finish_reason;
  j["total_duration"] = ns_since(r_.start);
  j["load_duration"] = 0;
  j["prompt_eval_count"] = prompt_tokens;
  j["prompt_eval_duration"] = 0;
  j["eval_count"] = completion_tokens;
  j["eval_duration"] = ns_since(r_.start);
}

json Writer::base(bool done) const {
  return {{"model", m_.name}, {"created_at", iso_time_now()}, {"done", done}};
}

std::string Writer::update(const Update& u) {
  std::string out;
  const std::string content = r_.job.chat ? u.delta.content : u.text;
  const std::string& thinking = u.delta.reasoning;
  if (!content.empty() || !thinking.empty() || !u.delta.tool_calls.empty()) {
    json j = base(false);
    if (r_.chat) {
      json msg = {{"role", "assistant"}, {"content", content}};
      if (!thinking.empty()) msg["thinking"] = thinking;
      if (!u.delta.tool_calls.empty()) msg["tool_calls"] = tool_calls_json(u.delta.tool_calls);
      j["message"] = msg;
    } else {
      j["response"] = content;
      if (!thinking.empty()) j["thinking"] = thinking;
    }
    out += j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  if (u.done) {
    if (u.finish_reason == "error") return out + json{{"error", u.error}}.dump() + "\n";
    json j = base(true);
    if (r_.chat) j["message"] = {{"role", "assistant"}, {"content", ""}};
    else j["response"] = "";
    add_counts(j, u.finish_reason, u.prompt_tokens, u.completion_tokens);
    out += j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  return out;
}

json Writer::final_object(const Completed& c) const {
  json j = base(true);
  if (r_.chat) {
    json msg = {{"role", "assistant"}, {"content", r_.job.chat ? c.parsed.content : c.text}};
    if (!c.parsed.reasoning.empty()) msg["thinking"] = c.parsed.reasoning;
    if (!c.parsed.tool_calls.empty()) msg["tool_calls"] = tool_calls_json(c.parsed.tool_calls);
    j["message"] = msg;
  } else {
    j["response"] = r_.job.chat ? c.parsed.content : c.text;
    if (!c.parsed.reasoning.empty()) j["thinking"] = c.parsed.reasoning;
  }
  add_counts(j, c.finish_reason, c.prompt_tokens, c.completion_tokens);
  return j;
}

std::string Writer::load_line() const {
  json j = base(true);
  j["response"] = "";
  j["done_reason"] = "load";
  return j.dump() + "\n";
}

json tags(const ServedModel& m) {
  return {{"models", json::array({{{"name", m.name},
                                   {"model", m.name},
                                   {"modified_at", iso_time_now()},
                                   {"size", 0},
                                   {"digest", ""},
                                   {"details", details(m)}}})}};
}

json show(const ServedModel& m) {
  const ModelConfig& c = m.config;
  json caps = json::array({"completion"});
  if (m.format == chat::Format::Exaone4 || m.format == chat::Format::KExaone) caps.push_back("tools");
  if (m.format != chat::Format::Exaone35) caps.push_back("thinking");
  return {{"license", "EXAONE AI Model License (see the model's files)"},
          {"modelfile", ""},
          {"parameters", ""},
          {"template", m.chat_template},
          {"details", details(m)},
          {"model_info", {{"general.architecture", c.model_type},
                          {"general.parameter_count", m.parameters},
                          {c.model_type + ".context_length", c.max_position},
                          {c.model_type + ".embedding_length", c.hidden},
                          {c.model_type + ".block_count", c.n_layers}}},
          {"capabilities", caps},
          {"modified_at", iso_time_now()}};
}

json version() { return {{"version", "0.1.0"}}; }

}  // namespace exaone::server::ollama

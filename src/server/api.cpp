#include "server/api.h"

#include <cmath>
#include <random>

#include "grammar/grammar.h"
#include "util/error.h"

namespace exaone::server {

void bad_request(const std::string& param, const std::string& message) {
  throw ApiError(400, param.empty() ? message : param + ": " + message, param);
}

json error_body(int status, const std::string& message, const std::string& param, const std::string& type) {
  std::string t = type;
  if (t.empty()) {
    switch (status) {
      case 401: t = "authentication_error"; break;
      case 404: t = "not_found_error"; break;
      case 413: t = "invalid_request_error"; break;
      case 429: t = "rate_limit_error"; break;
      case 503: t = "unavailable_error"; break;
      default: t = status >= 500 ? "server_error" : "invalid_request_error";
    }
  }
  return {{"error", {{"message", message}, {"type", t}, {"param", param.empty() ? json(nullptr) : json(param)},
                     {"code", nullptr}}}};
}

namespace {
const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_float: return "number";
    default: return "integer";
  }
}
std::string num_str(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}
}  // namespace

std::optional<double> field_number(const json& body, const char* key, double lo, double hi) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) bad_request(key, std::string("expected a number, got ") + type_name(*it));
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    bad_request(key, "must be between " + num_str(lo) + " and " + num_str(hi) + ", got " + it->dump());
  return v;
}

namespace {
std::string range_text(int64_t lo, int64_t hi) {
  if (hi == INT64_MAX) return "must be at least " + std::to_string(lo);
  if (lo == INT64_MIN) return "must be at most " + std::to_string(hi);
  return "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
}
}  // namespace

std::optional<int64_t> field_int(const json& body, const char* key, int64_t lo, int64_t hi) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && d >= -9e15 && d <= 9e15) {
      const auto v = static_cast<int64_t>(d);
      if (v < lo || v > hi)
        bad_request(key, range_text(lo, hi) + ", got " + it->dump());
      return v;
    }
    bad_request(key, "expected an integer, got " + it->dump());
  }
  if (!it->is_number_integer()) bad_request(key, std::string("expected an integer, got ") + type_name(*it));
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    bad_request(key, range_text(lo, hi) + ", got " + it->dump());
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    bad_request(key, range_text(lo, hi) + ", got " + std::to_string(v));
  return v;
}

std::optional<bool> field_bool(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) bad_request(key, std::string("expected a boolean, got ") + type_name(*it));
  return it->get<bool>();
}

std::optional<std::string> field_string(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) bad_request(key, std::string("expected a string, got ") + type_name(*it));
  return it->get<std::string>();
}

std::vector<std::string> field_stop(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>().empty() ? std::vector<std::string>{} : std::vector{it->get<std::string>()};
  if (!it->is_array()) bad_request(key, std::string("expected a string or a list of strings, got ") + type_name(*it));
  if (it->size() > 16) bad_request(key, "at most 16 stop strings, got " + std::to_string(it->size()));
  std::vector<std::string> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& s = (*it)[i];
    if (!s.is_string())
      bad_request(std::string(key) + "[" + std::to_string(i) + "]", std::string("expected a string, got ") + type_name(s));
    if (!s.get<std::string>().empty()) out.push_back(s.get<std::string>());
  }
  return out;
}

json parse_body(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw ApiError(400, std::string("the request body is not valid JSON: ") + e.what());
  } catch (const std::exception& e) {
    throw ApiError(400, std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw ApiError(400, std::string("the request body must be a JSON object, got ") + type_name(j));
  return j;
}

std::string random_id(const std::string& prefix) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static const char* kChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kChars[rng() % 62];
  return id;
}

namespace {

GenerationRequest sampling_request(const ServedModel& m, const SamplingFields& f, bool thinking, int64_t prompt_tokens) {
  const ModelConfig& c = m.config;
  GenerationRequest g;
  SamplingParams& s = g.sampling;
  s.temperature = static_cast<float>(f.temperature ? *f.temperature
                                     : c.gen_temperature >= 0 ? c.gen_temperature
                                     : thinking ? 0.6 : 0.0);
  s.top_p = static_cast<float>(f.top_p ? *f.top_p : c.gen_top_p > 0 ? c.gen_top_p : thinking ? 0.95 : 1.0);
  if (s.top_p <= 0) s.top_p = 1.0f;  // OpenAI allows 0; it means "only the most likely token" there, close to greedy
  s.top_k = static_cast<int>(f.top_k ? *f.top_k : c.gen_top_k > 0 ? c.gen_top_k : 0);
  s.min_p = static_cast<float>(f.min_p.value_or(0.0));
  s.repetition_penalty = static_cast<float>(f.repetition_penalty ? *f.repetition_penalty
                                            : c.gen_repetition_penalty > 0 ? c.gen_repetition_penalty : 1.0);
  s.presence_penalty = static_cast<float>(f.presence_penalty.value_or(0.0));
  s.frequency_penalty = static_cast<float>(f.frequency_penalty.value_or(0.0));
  s.seed = f.seed ? static_cast<uint64_t>(*f.seed) : static_cast<uint64_t>(std::random_device{}()) << 32 | std::random_device{}();
  const int64_t room = m.context - prompt_tokens;
  const int64_t limit = m.max_tokens_limit > 0 ? m.max_tokens_limit : m.context;
  if (f.max_tokens && *f.max_tokens > limit)
    bad_request("max_tokens", "must be at most " + std::to_string(limit) + " (the server's limit), got " +
                                  std::to_string(*f.max_tokens));
  g.max_tokens = f.max_tokens ? *f.max_tokens : std::min(limit, std::max<int64_t>(room, 1));
  g.stop = f.stop;
  g.ignore_eos = f.ignore_eos;
  return g;
}

void check_prompt_fits(const ServedModel& m, int64_t n) {
  if (n >= m.context)
    bad_request("messages", "the prompt has " + std::to_string(n) + " tokens but the context length is " +
                                std::to_string(m.context) + "; shorten the conversation");
}

grammar::NodePtr compile_schema(const json& schema, const std::string& param) {
  try {
    return grammar::json_value(schema);
  } catch (const Error& e) {
    bad_request(param, std::string("unsupported or invalid JSON schema: ") + e.what());
  }
}

// <tool_call>{"name": ..., "arguments": {...}}</tool_call> blocks for the allowed functions.
grammar::NodePtr tool_call_grammar(const json& tools, const std::string& only, bool parallel) {
  std::vector<json> variants;
  for (const auto& t : tools) {
    const json& fn = t["function"];
    const std::string name = fn["name"].get<std::string>();
    if (!only.empty() && name != only) continue;
    json params = fn.contains("parameters") && !fn["parameters"].is_null() ? fn["parameters"] : json::object();
    variants.push_back({{"type", "object"},
                        {"properties", {{"name", {{"const", name}}}, {"arguments", params}}},
                        {"required", {"name", "arguments"}}});
  }
  json schema = variants.size() == 1 ? variants[0] : json{{"anyOf", variants}};
  grammar::NodePtr call = grammar::sequence(
      {grammar::literal("<tool_call>"), compile_schema(schema, "tools"), grammar::literal("</tool_call>")});
  return grammar::repeat(call, 1, parallel ? -1 : 1, grammar::literal("\n"));
}

}  // namespace

json validate_tools(const json& tools, const char* param) {
  if (tools.is_null()) return tools;
  if (!tools.is_array()) bad_request(param, std::string("expected a list of tools, got ") + type_name(tools));
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string where = std::string(param) + "[" + std::to_string(i) + "]";
    const json& t = tools[i];
    if (!t.is_object()) bad_request(where, "expected an object");
    if (t.contains("type") && t["type"] != "function") bad_request(where + ".type", "only \"function\" tools are supported");
    if (!t.contains("function") || !t["function"].is_object()) bad_request(where + ".function", "expected an object");
    const json& fn = t["function"];
    if (!fn.contains("name") || !fn["name"].is_string() || fn["name"].get<std::string>().empty())
      bad_request(where + ".function.name", "expected a non-empty string");
    if (fn.contains("parameters") && !fn["parameters"].is_null() && !fn["parameters"].is_object())
      bad_request(where + ".function.parameters", "expected a JSON schema object");
  }
  return tools;
}

Job build_chat_job(const ServedModel& m, const json& messages, const ChatShape& shape, const SamplingFields& f,
                   const json& chat_template_kwargs) {
  if (!messages.is_array()) bad_request("messages", "expected a list of messages");
  if (messages.empty()) bad_request("messages", "must contain at least one message");
  json render = {{"messages", messages}, {"add_generation_prompt", true}};
  const bool tools_on = !shape.tools.is_null() && !shape.tools.empty() && shape.tool_choice != "none";
  if (tools_on) render["tools"] = shape.tools;
  json kwargs = chat_template_kwargs.is_object() ? chat_template_kwargs : json::object();
  if (!kwargs.contains("enable_thinking") && shape.enable_thinking) kwargs["enable_thinking"] = *shape.enable_thinking;
  render["chat_template_kwargs"] = kwargs;
  chat::Rendered rendered;
  try {
    rendered = chat::render_chat(m.format, render);
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind("request: ", 0) == 0) msg.erase(0, 9);
    std::string param = "messages";
    if (msg.rfind("messages[", 0) == 0) param = msg.substr(0, msg.find(':'));
    else if (msg.rfind("tools", 0) == 0) param = "tools";
    throw ApiError(400, msg, param);
  }
  std::vector<int> ids = m.tokenizer->encode(rendered.prompt);
  check_prompt_fits(m, static_cast<int64_t>(ids.size()));
  const bool thinking = rendered.reasoning_open;
  Job job;
  job.gen = sampling_request(m, f, thinking, static_cast<int64_t>(ids.size()));
  job.gen.prompt = std::move(ids);
  job.parse = chat::parse_options(m.format, rendered.reasoning_open);
  job.parse.tool_calls = job.parse.tool_calls && tools_on;
  grammar::NodePtr g;
  if (tools_on && (shape.tool_choice == "required" || shape.tool_choice == "function")) {
    if (m.format == chat::Format::Exaone35 || m.format == chat::Format::ExaoneDeep)
      bad_request("tool_choice", "this model's chat format has no tool calls");
    g = tool_call_grammar(shape.tools, shape.tool_choice == "function" ? shape.tool_name : "", shape.parallel_tool_calls);
    job.tool_choice_forced = true;
  } else if (!shape.response_schema.is_null()) {
    g = compile_schema(shape.response_schema, "response_format");
  }
  if (g) {
    if (rendered.reasoning_open) {
      // The answer follows the reasoning block: the grammar starts after its close tag, allowing
      // the newlines the model writes there.
      job.gen.grammar_after = chat::reasoning_tags(m.format).close;
      g = grammar::sequence({grammar::repeat(grammar::choice({grammar::literal("\n"), grammar::literal(" ")}), 0, 4), g});
    }
    job.gen.grammar = g;
  }
  return job;
}

Job build_completion_job(const ServedModel& m, std::vector<int> prompt, const SamplingFields& f) {
  if (prompt.empty()) bad_request("prompt", "the prompt is empty");
  if (static_cast<int64_t>(prompt.size()) >= m.context)
    bad_request("prompt", "the prompt has " + std::to_string(prompt.size()) + " tokens but the context length is " +
                              std::to_string(m.context));
  Job job;
  job.chat = false;
  job.gen = sampling_request(m, f, false, static_cast<int64_t>(prompt.size()));
  job.gen.prompt = std::move(prompt);
  return job;
}

}  // namespace exaone::server

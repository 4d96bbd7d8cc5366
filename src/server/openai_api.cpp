#include "server/openai_api.h"

#include <ctime>

#include "util/error.h"

namespace exaone::server::openai {

namespace {

SamplingFields sampling_fields(const json& body) {
  SamplingFields f;
  f.temperature = field_number(body, "temperature", 0, 2);
  f.top_p = field_number(body, "top_p", 0, 1);
  if (auto k = field_int(body, "top_k", -1, 1 << 30)) f.top_k = *k < 0 ? 0 : *k;
  f.min_p = field_number(body, "min_p", 0, 1);
  f.presence_penalty = field_number(body, "presence_penalty", -2, 2);
  f.frequency_penalty = field_number(body, "frequency_penalty", -2, 2);
  f.repetition_penalty = field_number(body, "repetition_penalty", 1e-3, 100);
  f.seed = field_int(body, "seed", INT64_MIN, INT64_MAX);
  const char* max_key = body.contains("max_completion_tokens") && !body["max_completion_tokens"].is_null()
                            ? "max_completion_tokens" : "max_tokens";
  f.max_tokens = field_int(body, max_key, 1, INT64_MAX);
  f.stop = field_stop(body, "stop");
  f.ignore_eos = field_bool(body, "ignore_eos").value_or(false);
  return f;
}

// Checks every OpenAI endpoint shares, and a fresh id.
Request new_request(const char* id_prefix, const json& body) {
  Request r;
  r.id = random_id(id_prefix);
  r.created = static_cast<int64_t>(std::time(nullptr));
  if (auto n = field_int(body, "n", INT64_MIN, INT64_MAX); n && *n != 1)
    bad_request("n", "only n=1 is supported (one choice per request), got " + std::to_string(*n));
  if (auto b = field_int(body, "best_of", INT64_MIN, INT64_MAX); b && *b != 1)
    bad_request("best_of", "only best_of=1 is supported, got " + std::to_string(*b));
  return r;
}

void stream_fields(const json& body, Request& r) {
  r.stream = field_bool(body, "stream").value_or(false);
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) bad_request("stream_options", "expected an object");
    if (auto u = field_bool(*it, "include_usage")) r.include_usage = *u;
  }
}

std::vector<std::pair<int, float>> logit_bias(const json& body) {
  std::vector<std::pair<int, float>> out;
  auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_object()) bad_request("logit_bias", "expected an object mapping token ids to biases");
  for (const auto& [key, value] : it->items()) {
    const std::string where = "logit_bias." + key;
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(key, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != key.size() || key.empty() || id < 0 || id > INT32_MAX) bad_request(where, "keys must be token ids");
    if (!value.is_number()) bad_request(where, "expected a number");
    const double b = value.get<double>();
    if (!(b >= -100 && b <= 100)) bad_request(where, "must be between -100 and 100");
    out.emplace_back(static_cast<int>(id), static_cast<float>(b));
  }
  return out;
}

// Roles the chat formats know; "developer" (newer OpenAI clients) is a system message.
json normalise_messages(const json& body) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) bad_request("messages", "is required");
  if (!it->is_array()) bad_request("messages", "expected a list of messages");
  if (it->empty()) bad_request("messages", "must contain at least one message");
  json messages = *it;
  for (size_t i = 0; i < messages.size(); ++i) {
    json& msg = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!msg.is_object()) bad_request(where, "expected an object");
    if (!msg.contains("role") || !msg["role"].is_string()) bad_request(where + ".role", "expected a string");
    std::string role = msg["role"].get<std::string>();
    if (role == "developer") msg["role"] = role = "system";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      bad_request(where + ".role", "unknown role '" + role + "' (system, developer, user, assistant, tool)");
    if (auto c = msg.find("content"); c != msg.end() && c->is_array() && role != "tool") {
      for (size_t k = 0; k < c->size(); ++k) {
        const json& part = (*c)[k];
        const std::string pw = where + ".content[" + std::to_string(k) + "]";
        if (!part.is_object()) bad_request(pw, "expected a content part object");
        if (part.contains("type") && part["type"].is_string() && part["type"] != "text")
          bad_request(pw + ".type", "'" + part["type"].get<std::string>() + "' parts are not supported (text only)");
      }
    }
  }
  return messages;
}

ChatShape chat_shape(const json& body) {
  ChatShape shape;
  if (auto it = body.find("tools"); it != body.end()) shape.tools = validate_tools(*it, "tools");
  const bool has_tools = !shape.tools.is_null() && !shape.tools.empty();
  if (auto it = body.find("tool_choice"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      shape.tool_choice = it->get<std::string>();
      if (shape.tool_choice != "auto" && shape.tool_choice != "none" && shape.tool_choice != "required")
        bad_request("tool_choice", "expected \"auto\", \"none\", \"required\" or a function, got \"" + shape.tool_choice + "\"");
    } else if (it->is_object()) {
      const json& fn = it->contains("function") ? (*it)["function"] : json();
      if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string())
        bad_request("tool_choice", "expected {\"type\": \"function\", \"function\": {\"name\": ...}}");
      shape.tool_choice = "function";
      shape.tool_name = fn["name"].get<std::string>();
      bool found = false;
      if (has_tools)
        for (const auto& t : shape.tools) found = found || t["function"]["name"] == shape.tool_name;
      if (!found) bad_request("tool_choice", "names function '" + shape.tool_name + "', which is not in tools");
    } else {
      bad_request("tool_choice", "expected a string or an object");
    }
    if (!has_tools && (shape.tool_choice == "required" || shape.tool_choice == "function"))
      bad_request("tool_choice", "\"" + shape.tool_choice + "\" needs a non-empty tools list");
  }
  shape.parallel_tool_calls = field_bool(body, "parallel_tool_calls").value_or(true);
  if (auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) bad_request("response_format", "expected an object");
    const std::string type = field_string(*it, "type").value_or("text");
    if (type == "json_object") {
      shape.response_schema = {{"type", "object"}};
    } else if (type == "json_schema") {
      const json& js = it->contains("json_schema") ? (*it)["json_schema"] : json();
      if (!js.is_object()) bad_request("response_format.json_schema", "expected an object with a schema");
      shape.response_schema = js.contains("schema") && !js["schema"].is_null() ? js["schema"] : json::object();
      if (!shape.response_schema.is_object() && !shape.response_schema.is_boolean())
        bad_request("response_format.json_schema.schema", "expected a JSON schema object");
    } else if (type != "text") {
      bad_request("response_format.type", "expected \"text\", \"json_object\" or \"json_schema\", got \"" + type + "\"");
    }
  }
  if (auto effort = field_string(body, "reasoning_effort")) {
    if (*effort != "none" && *effort != "minimal" && *effort != "low" && *effort != "medium" && *effort != "high")
      bad_request("reasoning_effort", "expected none, minimal, low, medium or high, got \"" + *effort + "\"");
    shape.enable_thinking = *effort != "none" && *effort != "minimal";
  }
  return shape;
}

json usage_json(const Completed& c) {
  return {{"prompt_tokens", c.prompt_tokens},
          {"completion_tokens", c.completion_tokens},
          {"total_tokens", c.prompt_tokens + c.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", c.cached_tokens}}}};
}

json usage_json(const Update& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json token_bytes_json(const Tokenizer& tok, int id) {
  json b = json::array();
  for (unsigned char ch : tok.token_bytes(id, false)) b.push_back(static_cast<int>(ch));
  return b;
}

std::string token_string(const Tokenizer& tok, int id) {
  std::vector<int> one{id};
  return tok.decode(one, false);
}

// Legacy completions logprobs: {tokens, token_logprobs, top_logprobs, text_offset}.
json completion_logprobs(const Tokenizer& tok, const std::vector<TokenLogprob>& lp, size_t& offset) {
  json tokens = json::array(), values = json::array(), tops = json::array(), offsets = json::array();
  for (const auto& t : lp) {
    const std::string s = token_string(tok, t.id);
    tokens.push_back(s);
    values.push_back(t.logprob);
    json top = json::object();
    for (const auto& [id, v] : t.top) top[token_string(tok, id)] = v;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += s.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

}  // namespace

std::string sse(const json& j) { return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; }

json logprobs_content(const Tokenizer& tok, const std::vector<TokenLogprob>& lp) {
  json content = json::array();
  for (const auto& t : lp) {
    json top = json::array();
    for (const auto& [id, v] : t.top)
      top.push_back({{"token", token_string(tok, id)}, {"logprob", v}, {"bytes", token_bytes_json(tok, id)}});
    content.push_back({{"token", token_string(tok, t.id)},
                       {"logprob", t.logprob},
                       {"bytes", token_bytes_json(tok, t.id)},
                       {"top_logprobs", top}});
  }
  return content;
}

Request parse_chat(const ServedModel& m, const json& body) {
  Request r = new_request("chatcmpl-", body);
  if (auto model = body.find("model"); model != body.end() && !model->is_null() && !model->is_string())
    bad_request("model", "expected a string");
  json messages = normalise_messages(body);
  stream_fields(body, r);
  r.logprobs = field_bool(body, "logprobs").value_or(false);
  if (auto k = field_int(body, "top_logprobs", 0, 20)) {
    if (!r.logprobs && *k > 0) bad_request("top_logprobs", "needs \"logprobs\": true");
    r.top_logprobs = static_cast<int>(*k);
  }
  SamplingFields f = sampling_fields(body);
  ChatShape shape = chat_shape(body);
  json kwargs = json::object();
  if (auto it = body.find("chat_template_kwargs"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) bad_request("chat_template_kwargs", "expected an object");
    kwargs = *it;
    if (kwargs.contains("enable_thinking") && !kwargs["enable_thinking"].is_boolean())
      bad_request("chat_template_kwargs.enable_thinking", "expected a boolean");
  }
  r.job = build_chat_job(m, messages, shape, f, kwargs);
  r.job.gen.logit_bias = logit_bias(body);
  if (r.logprobs) r.job.gen.logprobs = r.top_logprobs;
  return r;
}

Request parse_completion(const ServedModel& m, const json& body) {
  Request r = new_request("cmpl-", body);
  if (body.contains("suffix") && !body["suffix"].is_null()) bad_request("suffix", "is not supported");
  if (field_bool(body, "echo").value_or(false)) bad_request("echo", "is not supported");
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) bad_request("prompt", "is required");
  std::vector<int> ids;
  const json* p = &*it;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    ids = m.tokenizer->encode(p->get<std::string>());
  } else if (p->is_array()) {
    for (size_t i = 0; i < p->size(); ++i) {
      const json& v = (*p)[i];
      if (!v.is_number_integer())
        bad_request("prompt", "expected a string, a list of token ids, or one of those in a list (one prompt per request)");
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id >= m.tokenizer->vocab_size())
        bad_request("prompt[" + std::to_string(i) + "]", "token id " + std::to_string(id) + " is out of range");
      ids.push_back(static_cast<int>(id));
    }
  } else {
    bad_request("prompt", "expected a string or a list of token ids");
  }
  stream_fields(body, r);
  if (auto k = field_int(body, "logprobs", 0, 20)) {
    r.logprobs = true;
    r.top_logprobs = static_cast<int>(*k);
  }
  r.job = build_completion_job(m, std::move(ids), sampling_fields(body));
  r.job.gen.logit_bias = logit_bias(body);
  if (r.logprobs) r.job.gen.logprobs = r.top_logprobs;
  return r;
}

json chat_response(const ServedModel& m, const Request& r, const Completed& c) {
  json msg = chat::to_openai_message(c.parsed, random_id("call_") + "_");
  return {{"id", r.id},
          {"object", "chat.completion"},
          {"created", r.created},
          {"model", m.name},
          {"choices", json::array({{{"index", 0},
                                    {"message", msg},
                                    {"logprobs", r.logprobs ? json{{"content", logprobs_content(*m.tokenizer, c.logprobs)}}
                                                            : json(nullptr)},
                                    {"finish_reason", c.finish_reason}}})},
          {"usage", usage_json(c)}};
}

json completion_response(const ServedModel& m, const Request& r, const Completed& c) {
  size_t offset = 0;
  return {{"id", r.id},
          {"object", "text_completion"},
          {"created", r.created},
          {"model", m.name},
          {"choices", json::array({{{"index", 0},
                                    {"text", c.text},
                                    {"logprobs", r.logprobs ? completion_logprobs(*m.tokenizer, c.logprobs, offset)
                                                            : json(nullptr)},
                                    {"finish_reason", c.finish_reason}}})},
          {"usage", usage_json(c)}};
}

json ChatStreamWriter::chunk(json delta, const json& finish_reason) const {
  json j = {{"id", r_.id},
            {"object", "chat.completion.chunk"},
            {"created", r_.created},
            {"model", m_.name},
            {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                      {"finish_reason", finish_reason}}})}};
  if (r_.include_usage) j["usage"] = nullptr;
  return j;
}

std::string ChatStreamWriter::start() { return sse(chunk({{"role", "assistant"}, {"content", ""}}, nullptr)); }

std::string ChatStreamWriter::update(const Update& u) {
  std::string out;
  json lp = r_.logprobs && !u.logprobs.empty() ? json{{"content", logprobs_content(*m_.tokenizer, u.logprobs)}} : json(nullptr);
  auto put = [&](json delta) {
    json c = chunk(std::move(delta), nullptr);
    if (!lp.is_null()) {
      c["choices"][0]["logprobs"] = lp;
      lp = nullptr;  // once per update
    }
    out += sse(c);
  };
  if (!u.delta.reasoning.empty()) put({{"reasoning_content", u.delta.reasoning}});
  if (!u.delta.content.empty()) put({{"content", u.delta.content}});
  for (const auto& d : u.tool_deltas) {
    json fn = {{"arguments", d.arguments}};
    json call = {{"index", d.index}};
    if (d.first) {
      fn["name"] = d.name;
      call["id"] = random_id("call_");
      call["type"] = "function";
    }
    call["function"] = fn;
    put({{"tool_calls", json::array({call})}});
  }
  for (const auto& call : u.delta.tool_calls) {
    put({{"tool_calls", json::array({{{"index", tool_index_},
                                      {"id", random_id("call_")},
                                      {"type", "function"},
                                      {"function", {{"name", call.name}, {"arguments", call.arguments_json()}}}}})}});
    ++tool_index_;
  }
  if (!lp.is_null()) put(json::object());  // logprobs of tokens whose text is still held back
  if (u.done) {
    if (u.finish_reason == "error") return out + error(u.error, u.error_status);
    out += sse(chunk(json::object(), u.finish_reason));
    if (r_.include_usage) {
      json usage = {{"id", r_.id}, {"object", "chat.completion.chunk"}, {"created", r_.created}, {"model", m_.name},
                    {"choices", json::array()}, {"usage", usage_json(u)}};
      out += sse(usage);
    }
    out += "data: [DONE]\n\n";
  }
  return out;
}

std::string ChatStreamWriter::error(const std::string& message, int status) {
  return sse(error_body(status, message)) + "data: [DONE]\n\n";
}

std::string CompletionStreamWriter::update(const Update& u) {
  std::string out;
  auto chunk = [&](const std::string& text, const json& finish, const json& lp) {
    json j = {{"id", r_.id}, {"object", "text_completion"}, {"created", r_.created}, {"model", m_.name},
              {"choices", json::array({{{"index", 0}, {"text", text}, {"logprobs", lp}, {"finish_reason", finish}}})}};
    if (r_.include_usage) j["usage"] = nullptr;
    return sse(j);
  };
  size_t offset = 0;
  json lp = r_.logprobs && !u.logprobs.empty() ? completion_logprobs(*m_.tokenizer, u.logprobs, offset) : json(nullptr);
  if (!u.text.empty() || !lp.is_null()) out += chunk(u.text, nullptr, lp);
  if (u.done) {
    if (u.finish_reason == "error") return out + error(u.error, u.error_status);
    out += chunk("", u.finish_reason, nullptr);
    if (r_.include_usage)
      out += sse({{"id", r_.id}, {"object", "text_completion"}, {"created", r_.created}, {"model", m_.name},
                  {"choices", json::array()}, {"usage", usage_json(u)}});
    out += "data: [DONE]\n\n";
  }
  return out;
}

std::string CompletionStreamWriter::error(const std::string& message, int status) {
  return sse(error_body(status, message)) + "data: [DONE]\n\n";
}

json models_list(const ServedModel& m) {
  return {{"object", "list"},
          {"data", json::array({{{"id", m.name}, {"object", "model"}, {"created", m.created}, {"owned_by", "exaone.cpp"},
                                 {"meta", {{"context_length", m.config.max_position},
                                           {"parameters", m.parameters}}}}})}};
}

}  // namespace exaone::server::openai

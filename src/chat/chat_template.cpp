#include "chat/chat_template.h"

#include <optional>
#include <vector>

#include "chat/py_json.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone::chat {

namespace {

// ---------------------------------------------------------------------------------------------
// Request normalisation: the OpenAI body is validated and turned into plain messages. The same
// preprocessing (text parts joined, string `arguments` parsed, reasoning field aliases) is what
// scripts/fixtures/make_chat_fixtures.py applies before running the reference Jinja template.

enum class ContentKind { Missing, Null, Text, Value };

struct ToolCall {
  std::string name;
  json arguments;
};

struct Message {
  std::string role;
  ContentKind kind = ContentKind::Missing;
  std::string text;  // kind == Text
  json value;        // kind == Value (tool messages only: any JSON)
  // transformers aliases reasoning_content / thinking / reasoning (first non-null wins).
  std::optional<std::string> reasoning;
  std::vector<ToolCall> tool_calls;
};

struct Request {
  std::vector<Message> messages;
  json tools;  // null or array
  bool add_generation_prompt = true;
  json kwargs = json::object();  // chat_template_kwargs
};

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  fail("request: " + where + ": " + what);
}

std::string msg_where(size_t i) { return "messages[" + std::to_string(i) + "]"; }

// True when `content` is a list of content parts (objects with a "type" key). For tool messages a
// list of other things is a plain JSON result instead.
bool is_part_list(const json& content) {
  if (!content.is_array()) return false;
  for (const auto& part : content)
    if (!part.is_object() || !part.contains("type")) return false;
  return true;
}

std::string join_text_parts(const json& parts, const std::string& where) {
  std::string text;
  for (size_t k = 0; k < parts.size(); ++k) {
    const json& part = parts[k];
    std::string pw = where + ".content[" + std::to_string(k) + "]";
    if (!part.is_object()) bad(pw, std::string("expected a content part object, got ") + part.type_name());
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) bad(pw, "missing string field 'type'");
    if (*type != "text") bad(pw, "unsupported content part type '" + type->get<std::string>() + "' (only text)");
    auto t = part.find("text");
    if (t == part.end() || !t->is_string()) bad(pw, "text part without a string 'text'");
    text += t->get_ref<const std::string&>();
  }
  return text;
}

json parse_arguments_string(const std::string& s, const std::string& where) {
  std::string trimmed = py_strip(s);
  if (trimmed.empty()) return json::object();  // clients send "" for argument-less calls
  try {
    return json::parse(s);
  } catch (const json::parse_error& e) {
    bad(where, "invalid JSON string at byte " + std::to_string(e.byte));
  } catch (const json::exception& e) {  // e.g. a number too large for a double
    bad(where, std::string("invalid JSON string: ") + e.what());
  }
}

ToolCall normalise_tool_call(const json& call, const std::string& where) {
  if (!call.is_object()) bad(where, std::string("expected an object, got ") + call.type_name());
  const json* fn = &call;
  std::string fw = where;
  if (auto f = call.find("function"); f != call.end()) {
    if (!f->is_object()) bad(where + ".function", std::string("expected an object, got ") + f->type_name());
    fn = &*f;
    fw = where + ".function";
  }
  ToolCall out;
  auto name = fn->find("name");
  if (name == fn->end()) bad(fw, "missing 'name'");
  if (!name->is_string()) bad(fw + ".name", std::string("expected a string, got ") + name->type_name());
  out.name = name->get<std::string>();
  const char* key = fn->contains("arguments") ? "arguments" : fn->contains("parameters") ? "parameters" : nullptr;
  if (!key) bad(fw, "missing 'arguments' (or 'parameters')");
  const json& args = (*fn)[key];
  out.arguments = args.is_string() ? parse_arguments_string(args.get<std::string>(), fw + "." + key) : args;
  return out;
}

Message normalise_message(const json& m, size_t i) {
  std::string where = msg_where(i);
  if (!m.is_object()) bad(where, std::string("expected an object, got ") + m.type_name());
  Message out;
  auto role = m.find("role");
  if (role == m.end()) bad(where, "missing 'role'");
  if (!role->is_string()) bad(where + ".role", std::string("expected a string, got ") + role->type_name());
  out.role = role->get<std::string>();

  if (auto c = m.find("content"); c != m.end()) {
    if (c->is_null()) {
      out.kind = ContentKind::Null;
    } else if (c->is_string()) {
      out.kind = ContentKind::Text;
      out.text = c->get<std::string>();
    } else if (c->is_array() && (out.role != "tool" || is_part_list(*c))) {
      out.kind = ContentKind::Text;
      out.text = join_text_parts(*c, where);
    } else if (out.role == "tool") {
      out.kind = ContentKind::Value;  // tool results may be any JSON value
      out.value = *c;
    } else {
      bad(where + ".content", std::string("expected a string, null or a list of text parts, got ") + c->type_name());
    }
  }

  for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
    auto r = m.find(key);
    if (r == m.end() || r->is_null()) continue;
    if (!r->is_string()) bad(where + "." + key, std::string("expected a string, got ") + r->type_name());
    out.reasoning = r->get<std::string>();
    break;
  }

  if (auto tc = m.find("tool_calls"); tc != m.end() && !tc->is_null()) {
    if (!tc->is_array()) bad(where + ".tool_calls", std::string("expected a list, got ") + tc->type_name());
    for (size_t k = 0; k < tc->size(); ++k)
      out.tool_calls.push_back(normalise_tool_call((*tc)[k], where + ".tool_calls[" + std::to_string(k) + "]"));
  }
  return out;
}

Request normalise_request(const json& body) {
  if (!body.is_object()) fail(std::string("request: expected a JSON object, got ") + body.type_name());
  Request r;
  auto msgs = body.find("messages");
  if (msgs == body.end()) fail("request: missing 'messages'");
  if (!msgs->is_array()) bad("messages", std::string("expected a list, got ") + msgs->type_name());
  for (size_t i = 0; i < msgs->size(); ++i) r.messages.push_back(normalise_message((*msgs)[i], i));

  if (auto t = body.find("tools"); t != body.end() && !t->is_null()) {
    if (!t->is_array()) bad("tools", std::string("expected a list, got ") + t->type_name());
    r.tools = *t;
  }
  if (auto g = body.find("add_generation_prompt"); g != body.end() && !g->is_null()) {
    if (!g->is_boolean()) bad("add_generation_prompt", std::string("expected a boolean, got ") + g->type_name());
    r.add_generation_prompt = g->get<bool>();
  }
  if (auto k = body.find("chat_template_kwargs"); k != body.end() && !k->is_null()) {
    if (!k->is_object()) bad("chat_template_kwargs", std::string("expected an object, got ") + k->type_name());
    r.kwargs = *k;
  }
  return r;
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// Text after the last `sep` / before the first `sep` (Python's s.split(sep)[-1] / [0]).
std::string_view after_last(std::string_view s, std::string_view sep) {
  size_t p = s.rfind(sep);
  return p == std::string_view::npos ? s : s.substr(p + sep.size());
}
std::string_view before_first(std::string_view s, std::string_view sep) {
  size_t p = s.find(sep);
  return p == std::string_view::npos ? s : s.substr(0, p);
}

void append_tool_calls(const std::vector<ToolCall>& calls, std::string& out) {
  for (size_t k = 0; k < calls.size(); ++k) {
    if (k) out += '\n';
    // The name is written raw between quotes, exactly as the template does.
    out += "<tool_call>{\"name\": \"" + calls[k].name + "\", \"arguments\": ";
    py_json_dumps(calls[k].arguments, out);
    out += "}</tool_call>";
  }
}

// ---------------------------------------------------------------------------------------------
// EXAONE 4.0 (spec §6.2; reference: tests/fixtures/chat/exaone4_chat_template.jinja)

constexpr const char* kEot4 = "[|endofturn|]\n";
constexpr const char* kEmptyThink = "<think>\n\n</think>\n\n";

std::string exaone4_tools_block(const json& tools) {
  std::string out =
      "# Available Tools\nYou can use none, one, or multiple of the following tools by calling them as "
      "functions to help with the user\xE2\x80\x99s query.\nHere are the tools available to you in JSON format "
      "within <tool> and </tool> tags:\n";
  for (const auto& tool : tools) {
    out += "<tool>";
    py_json_dumps(tool, out);
    out += "</tool>\n";
  }
  out +=
      "\nFor each function call you want to make, return a JSON object with function name and arguments "
      "within <tool_call> and </tool_call> tags, like:"
      "\n<tool_call>{\"name\": function_1_name, \"arguments\": {argument_1_name: argument_1_value, "
      "argument_2_name: argument_2_value}}</tool_call>"
      "\n<tool_call>{\"name\": function_2_name, \"arguments\": {...}}</tool_call>\n..."
      "\nNote that if no argument name is specified for a tool, you can just print the argument value "
      "directly, without the argument name or JSON formatting.";
  return out;
}

// `{{ msg.content }}` as Jinja prints it: Python None prints "None", a missing key prints "".
std::string printed_content(const Message& m) {
  switch (m.kind) {
    case ContentKind::Text: return m.text;
    case ContentKind::Null: return "None";
    default: return "";
  }
}

std::string render_exaone4(const Request& r) {
  const auto& msgs = r.messages;
  bool have_tools = py_truthy(r.tools);
  bool skip_think = r.kwargs.contains("skip_think") ? py_truthy(r.kwargs["skip_think"]) : true;
  auto et = r.kwargs.find("enable_thinking");
  bool enable_thinking = et != r.kwargs.end() && et->is_boolean() && et->get<bool>();

  std::string out;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const Message& m = msgs[i];
    bool last = i + 1 == msgs.size();
    if (m.role != "user" && m.role != "assistant" && m.role != "system" && m.role != "tool")
      bad(msg_where(i) + ".role", "unknown role '" + m.role + "' (expected system, user, assistant or tool)");
    if (i == 0) {
      if (m.role == "system") {
        out += "[|system|]\n" + printed_content(m);
        if (have_tools) out += "\n\n" + exaone4_tools_block(r.tools);
        out += kEot4;
        continue;
      }
      if (have_tools) out += "[|system|]\n" + exaone4_tools_block(r.tools) + kEot4;
    }
    if (m.role == "assistant") {
      out += "[|assistant|]\n";
      bool has_content = m.kind == ContentKind::Text && !m.text.empty();
      if (has_content) {
        std::string content;
        std::optional<std::string> reasoning;
        if (contains(m.text, "</think>")) {
          content = py_strip(after_last(m.text, "</think>"));
          std::string rsn = py_strip(before_first(m.text, "</think>"));
          // The template slices [9:] after a 7-character "<think>" (drops two more characters).
          if (rsn.rfind("<think>", 0) == 0) rsn = py_strip(py_slice_from(rsn, 9));
          reasoning = rsn;
        } else {
          content = m.text;
        }
        if (m.reasoning && !m.reasoning->empty()) reasoning = *m.reasoning;
        if (!skip_think && last && reasoning)
          out += "<think>\n" + *reasoning + "\n</think>\n\n";
        else
          out += kEmptyThink;  // history reasoning is dropped by default
        out += content;
      }
      if (!m.tool_calls.empty()) {
        out += has_content ? "\n" : kEmptyThink;
        append_tool_calls(m.tool_calls, out);
      }
      out += kEot4;
    } else if (m.role == "tool") {
      if (i == 0 || msgs[i - 1].role != "tool") out += "[|tool|]\n";
      if (m.kind != ContentKind::Missing) {
        out += "<tool_result>{\"result\": ";
        if (m.kind == ContentKind::Text)
          py_json_dumps(json(m.text), out);
        else
          py_json_dumps(m.value, out);  // null for ContentKind::Null
        out += "}</tool_result>";
      }
      out += (last || msgs[i + 1].role != "tool") ? kEot4 : "\n";
    } else {
      out += "[|" + m.role + "|]\n" + printed_content(m) + kEot4;
    }
  }
  if (r.add_generation_prompt) out += std::string("[|assistant|]\n") + (enable_thinking ? "<think>\n" : kEmptyThink);
  return out;
}

// ---------------------------------------------------------------------------------------------
// EXAONE 3.5 and Deep (spec §6.4; references: tests/fixtures/chat/exaone35_chat_template.jinja and
// exaone_deep_chat_template.jinja). Their templates concatenate content with `+`, which fails in
// Jinja for null; here a null or missing content renders as "".

std::string plain_text(const Message& m, size_t i, const char* family) {
  if (m.kind == ContentKind::Value)
    bad(msg_where(i) + ".content", std::string("must be a string for ") + family);
  return m.kind == ContentKind::Text ? m.text : "";
}

std::string render_exaone35(const Request& r) {
  std::string out;
  for (size_t i = 0; i < r.messages.size(); ++i) {
    const Message& m = r.messages[i];
    if (i == 0 && m.role != "system") out += "[|system|][|endofturn|]\n";
    out += "[|" + m.role + "|]" + plain_text(m, i, "EXAONE 3.5");
    out += m.role == "user" ? "\n" : "[|endofturn|]\n";
  }
  if (r.add_generation_prompt) out += "[|assistant|]";
  return out;
}

std::string render_exaone_deep(const Request& r) {
  std::string out;
  for (size_t i = 0; i < r.messages.size(); ++i) {
    const Message& m = r.messages[i];
    if (i == 0 && m.role != "system") out += "[|system|][|endofturn|]\n";
    std::string content = plain_text(m, i, "EXAONE Deep");
    if (contains(content, "</thought>")) {
      std::string_view tail = after_last(content, "</thought>");
      size_t k = 0;
      while (k < tail.size() && tail[k] == '\n') ++k;  // lstrip('\n')
      content = std::string(tail.substr(k));
    }
    out += "[|" + m.role + "|]" + content;
    if (m.role != "user") out += "[|endofturn|]";
    if (i + 1 != r.messages.size()) out += "\n";
  }
  if (r.add_generation_prompt) out += "\n[|assistant|]<thought>\n";
  return out;
}

// ---------------------------------------------------------------------------------------------
// K-EXAONE (spec §6.6, observed format; the official template text was not available): tools
// declared first in a <|tool_declare|> turn, <|role|>\n markers, reasoning of assistant turns
// after the last user message kept, raw tool results, thinking on unless enable_thinking is false.

constexpr const char* kEotK = "<|endofturn|>\n";

std::string render_kexaone(const Request& r) {
  const auto& msgs = r.messages;
  auto et = r.kwargs.find("enable_thinking");
  bool enable_thinking = et == r.kwargs.end() || py_truthy(*et);
  size_t last_user = std::string::npos;
  for (size_t i = 0; i < msgs.size(); ++i)
    if (msgs[i].role == "user") last_user = i;

  std::string out;
  if (py_truthy(r.tools)) {
    out += "<|tool_declare|>\n# Tools\n";
    for (const auto& tool : r.tools) {
      out += "<tool>";
      py_json_dumps(tool, out);
      out += "</tool>\n";
    }
    out += kEotK;
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    const Message& m = msgs[i];
    bool last = i + 1 == msgs.size();
    if (m.role == "system" || m.role == "user") {
      out += "<|" + m.role + "|>\n" + plain_text(m, i, "K-EXAONE") + kEotK;
    } else if (m.role == "assistant") {
      std::string text = plain_text(m, i, "K-EXAONE");
      std::string content = text;
      std::string reasoning;
      if (contains(text, "</think>")) {
        content = py_strip(after_last(text, "</think>"));
        reasoning = py_strip(before_first(text, "</think>"));
        if (reasoning.rfind("<think>", 0) == 0) reasoning = py_strip(reasoning.substr(7));
      }
      if (m.reasoning && !m.reasoning->empty()) reasoning = *m.reasoning;
      bool keep = last_user == std::string::npos || i > last_user;
      out += "<|assistant|>\n";
      out += (keep && !reasoning.empty()) ? "<think>\n" + reasoning + "\n</think>\n\n" : kEmptyThink;
      out += content;
      if (!m.tool_calls.empty()) {
        if (!content.empty()) out += '\n';
        append_tool_calls(m.tool_calls, out);
      }
      out += kEotK;
    } else if (m.role == "tool") {
      if (i == 0 || msgs[i - 1].role != "tool") out += "<|tool|>\n";
      out += "<tool_result>";
      out += m.kind == ContentKind::Value ? py_json_dumps(m.value) : m.kind == ContentKind::Text ? m.text : "";
      out += "</tool_result>";
      out += (last || msgs[i + 1].role != "tool") ? kEotK : "\n";
    } else {
      bad(msg_where(i) + ".role", "unknown role '" + m.role + "' (expected system, user, assistant or tool)");
    }
  }
  if (r.add_generation_prompt) out += std::string("<|assistant|>\n") + (enable_thinking ? "<think>\n" : kEmptyThink);
  return out;
}

}  // namespace

const char* format_name(Format format) {
  switch (format) {
    case Format::Exaone4: return "exaone4";
    case Format::Exaone35: return "exaone3.5";
    case Format::ExaoneDeep: return "exaone-deep";
    case Format::KExaone: return "k-exaone";
  }
  return "?";
}

Format detect_format(std::string_view model_type, std::string_view tmpl) {
  if (contains(tmpl, "<|endofturn|>") || contains(tmpl, "<|tool_declare|>")) return Format::KExaone;
  if (contains(tmpl, "<thought>")) return Format::ExaoneDeep;
  if (contains(tmpl, "[|tool|]") || contains(tmpl, "<think>")) return Format::Exaone4;
  if (contains(tmpl, "[|endofturn|]")) return Format::Exaone35;
  if (model_type == "exaone4") return Format::Exaone4;
  if (model_type == "exaone") return Format::Exaone35;
  if (model_type == "exaone_moe" || model_type == "exaone4_5") return Format::KExaone;
  fail("chat format: model_type '" + std::string(model_type) +
       "' is not an EXAONE model and the chat template has no EXAONE markers");
}

std::string load_chat_template(const std::string& model_dir) {
  std::string jinja_path = path_join(model_dir, "chat_template.jinja");
  if (file_exists(jinja_path)) return read_text_file(jinja_path);
  std::string cfg_path = path_join(model_dir, "tokenizer_config.json");
  if (!file_exists(cfg_path)) return "";
  json cfg = read_json_file(cfg_path);
  if (!cfg.is_object()) fail(cfg_path + ": expected a JSON object");
  auto t = cfg.find("chat_template");
  if (t == cfg.end() || t->is_null()) return "";
  if (t->is_string()) return t->get<std::string>();
  if (t->is_array()) {
    for (size_t k = 0; k < t->size(); ++k) {
      const json& entry = (*t)[k];
      std::string where = cfg_path + ": field 'chat_template[" + std::to_string(k) + "]'";
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string())
        fail(where + ": expected {name, template}");
      if (entry["name"] != "default") continue;
      if (!entry.contains("template") || !entry["template"].is_string()) fail(where + ": 'template' must be a string");
      return entry["template"].get<std::string>();
    }
    fail(cfg_path + ": field 'chat_template': no template named 'default'");
  }
  fail(cfg_path + ": field 'chat_template': expected a string or a list, got " + t->type_name());
}

Format detect_model_format(const std::string& model_dir) {
  std::string cfg_path = path_join(model_dir, "config.json");
  json cfg = read_json_file(cfg_path);
  if (!cfg.is_object()) fail(cfg_path + ": expected a JSON object");
  std::string model_type = opt_string(cfg, "model_type", cfg_path).value_or("");
  return detect_format(model_type, load_chat_template(model_dir));
}

Rendered render_chat(Format format, const json& request) {
  Request r = normalise_request(request);
  Rendered out;
  switch (format) {
    case Format::Exaone4: out.prompt = render_exaone4(r); break;
    case Format::Exaone35: out.prompt = render_exaone35(r); break;
    case Format::ExaoneDeep: out.prompt = render_exaone_deep(r); break;
    case Format::KExaone: out.prompt = render_kexaone(r); break;
  }
  out.reasoning_open = prompt_opens_reasoning(format, out.prompt);
  return out;
}

std::string render(Format format, const json& request) { return render_chat(format, request).prompt; }

ReasoningTags reasoning_tags(Format format) {
  switch (format) {
    case Format::Exaone4:
    case Format::KExaone: return {"<think>", "</think>"};
    case Format::ExaoneDeep: return {"<thought>", "</thought>"};
    case Format::Exaone35: return {"", ""};
  }
  return {"", ""};
}

bool prompt_opens_reasoning(Format format, std::string_view prompt) {
  ReasoningTags tags = reasoning_tags(format);
  if (tags.open.empty()) return false;
  std::string suffix = tags.open + "\n";
  return prompt.size() >= suffix.size() && prompt.substr(prompt.size() - suffix.size()) == suffix;
}

}  // namespace exaone::chat

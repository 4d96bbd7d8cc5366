#include "chat/output_parser.h"

#include <algorithm>
#include <optional>

#include "chat/py_json.h"
#include "util/error.h"

namespace exaone::chat {

namespace {

constexpr std::string_view kCallOpen = "<tool_call>";
constexpr std::string_view kCallClose = "</tool_call>";

// Whitespace that separates tool-call blocks from each other and from text.
bool is_sep_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// {"name": string, "arguments" | "parameters": any}; nullopt when the body is anything else.
std::optional<ToolCall> parse_call_body(std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception&) {
    return std::nullopt;
  }
  if (!j.is_object()) return std::nullopt;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) return std::nullopt;
  ToolCall call;
  call.name = name->get<std::string>();
  if (auto a = j.find("arguments"); a != j.end())
    call.arguments = *a;
  else if (auto p = j.find("parameters"); p != j.end())
    call.arguments = *p;
  else
    call.arguments = json::object();
  return call;
}

// Length of the longest suffix of `s` that is a proper prefix of `tag` (it may still become the tag).
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  size_t max = std::min(s.size(), tag.size() - 1);
  for (size_t len = max; len > 0; --len)
    if (s.substr(s.size() - len) == tag.substr(0, len)) return len;
  return 0;
}

}  // namespace

// Finds the close tag of a tool-call block. A body that opens like JSON ("{" first) is closed only
// by a tag outside its JSON strings, so an argument that contains the text "</tool_call>" stays in
// the call; any other body closes at the first tag. The first tag seen inside a string is kept as
// the fallback for a text that never closes outside one.
size_t ToolCallCloseScanner::scan(std::string_view body, size_t limit) {
  for (; pos < limit; ++pos) {
    const char c = body[pos];
    const bool at_tag = c == '<' && body.substr(pos, kCallClose.size()) == kCallClose;
    if (opens_json < 0 && !is_sep_space(c)) opens_json = c == '{';
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      else if (at_tag && first_tag == std::string_view::npos)
        first_tag = pos;
      continue;
    }
    if (at_tag) return pos;
    if (opens_json == 1 && c == '"') in_string = true;
  }
  return std::string_view::npos;
}

namespace {

size_t skip_newlines(std::string_view s) {
  size_t k = 0;
  while (k < s.size() && (s[k] == '\n' || s[k] == '\r')) ++k;
  return k;
}

}  // namespace

ParseOptions parse_options(Format format, bool reasoning_open) {
  ParseOptions o;
  ReasoningTags tags = reasoning_tags(format);
  o.reasoning_open = reasoning_open && !tags.close.empty();
  o.reasoning_close = tags.close.empty() ? "</think>" : tags.close;
  o.tool_calls = format == Format::Exaone4 || format == Format::KExaone;
  return o;
}

std::string ToolCall::arguments_json() const { return py_json_dumps(arguments); }

ParsedOutput parse_output(std::string_view text, const ParseOptions& opt) {
  ParsedOutput out;
  std::string_view rest = text;
  if (opt.reasoning_open) {
    size_t p = text.find(opt.reasoning_close);
    if (p == std::string_view::npos) {
      out.reasoning = std::string(text);  // stopped while still reasoning
      return out;
    }
    out.reasoning = std::string(text.substr(0, p));
    rest = text.substr(p + opt.reasoning_close.size());
    rest.remove_prefix(skip_newlines(rest));
  }
  if (!opt.tool_calls) {
    out.content = std::string(rest);
    return out;
  }

  // Split into runs of text and valid blocks; rejected blocks are text.
  struct Item {
    bool is_call;
    std::string text;
  };
  std::vector<Item> items;
  auto add_text = [&](std::string_view t) {
    if (!items.empty() && !items.back().is_call)
      items.back().text += t;
    else
      items.push_back({false, std::string(t)});
  };
  size_t i = 0;
  while (true) {
    size_t p = rest.find(kCallOpen, i);
    if (p == std::string_view::npos) {
      add_text(rest.substr(i));
      break;
    }
    add_text(rest.substr(i, p - i));
    size_t body_at = p + kCallOpen.size();
    ToolCallCloseScanner scanner;
    const std::string_view tail = rest.substr(body_at);
    size_t q = scanner.scan(tail, tail.size());
    if (q == std::string_view::npos) q = scanner.first_tag;
    if (q != std::string_view::npos) q += body_at;
    size_t end = q == std::string_view::npos ? rest.size() : q + kCallClose.size();
    std::string_view body = rest.substr(body_at, (q == std::string_view::npos ? rest.size() : q) - body_at);
    if (auto call = parse_call_body(body)) {
      out.tool_calls.push_back(std::move(*call));
      items.push_back({true, ""});
    } else {
      out.invalid_tool_calls.emplace_back(rest.substr(p, end - p));
      add_text(rest.substr(p, end - p));
    }
    i = end;
  }
  for (size_t k = 0; k < items.size(); ++k) {
    if (items[k].is_call) continue;
    std::string_view t = items[k].text;
    if (k > 0 && items[k - 1].is_call)
      while (!t.empty() && is_sep_space(t.front())) t.remove_prefix(1);
    if (k + 1 < items.size() && items[k + 1].is_call)
      while (!t.empty() && is_sep_space(t.back())) t.remove_suffix(1);
    out.content += t;
  }
  return out;
}

json to_openai_message(const ParsedOutput& parsed, const std::string& id_prefix) {
  json msg = json::object();
  msg["role"] = "assistant";
  msg["content"] = parsed.content.empty() && !parsed.tool_calls.empty() ? json(nullptr) : json(parsed.content);
  if (!parsed.reasoning.empty()) msg["reasoning_content"] = parsed.reasoning;
  if (!parsed.tool_calls.empty()) {
    json calls = json::array();
    for (size_t k = 0; k < parsed.tool_calls.size(); ++k) {
      const ToolCall& c = parsed.tool_calls[k];
      calls.push_back({{"id", id_prefix + std::to_string(k)},
                       {"type", "function"},
                       {"function", {{"name", c.name}, {"arguments", c.arguments_json()}}}});
    }
    msg["tool_calls"] = std::move(calls);
  }
  return msg;
}

// ---------------------------------------------------------------------------------------------
// StreamParser

StreamParser::StreamParser(ParseOptions options)
    : opt_(std::move(options)), state_(opt_.reasoning_open ? State::Reasoning : State::Content) {
  if (opt_.reasoning_open && opt_.reasoning_close.empty()) fail("StreamParser: empty reasoning close tag");
}

StreamDelta StreamParser::push(std::string_view chunk) {
  if (state_ == State::Done) fail("StreamParser: push() after finish()");
  StreamDelta out;
  buf_.append(chunk);
  run(false, out);
  flush_utf8(false, out);
  return out;
}

StreamDelta StreamParser::finish() {
  StreamDelta out;
  if (state_ == State::Done) return out;
  run(true, out);
  if (!pending_ws_.empty()) emit_content(pending_ws_, out);  // trailing whitespace not before a call
  pending_ws_.clear();
  flush_utf8(true, out);
  state_ = State::Done;
  return out;
}

void StreamParser::emit_reasoning(std::string_view s, StreamDelta&) { utf8_reasoning_ += s; }
void StreamParser::emit_content(std::string_view s, StreamDelta&) { utf8_content_ += s; }

void StreamParser::flush_utf8(bool final, StreamDelta& out) {
  auto flush = [&](std::string& held, std::string& delta, std::string& total) {
    size_t n = final ? held.size() : utf8_complete_prefix(held);
    if (n == 0) return;
    delta.append(held, 0, n);
    total.append(held, 0, n);
    held.erase(0, n);
  };
  flush(utf8_reasoning_, out.reasoning, total_.reasoning);
  flush(utf8_content_, out.content, total_.content);
}

// Content text outside tool-call blocks: whitespace right after a call is dropped, whitespace
// that may precede a call is held in pending_ws_ until the next non-space character.
void StreamParser::content_text(std::string_view text, StreamDelta& out) {
  size_t i = 0;
  while (i < text.size()) {
    if (is_sep_space(text[i])) {
      size_t j = i;
      while (j < text.size() && is_sep_space(text[j])) ++j;
      if (!after_block_) pending_ws_.append(text.substr(i, j - i));
      i = j;
    } else {
      size_t j = i;
      while (j < text.size() && !is_sep_space(text[j])) ++j;
      after_block_ = false;
      if (!pending_ws_.empty()) emit_content(pending_ws_, out);
      pending_ws_.clear();
      emit_content(text.substr(i, j - i), out);
      i = j;
    }
  }
}

void StreamParser::resolve_block(std::string_view body, bool closed, StreamDelta& out) {
  if (auto call = parse_call_body(body)) {
    pending_ws_.clear();  // separator before the call
    after_block_ = true;
    out.tool_calls.push_back(*call);
    total_.tool_calls.push_back(std::move(*call));
    return;
  }
  std::string raw = std::string(kCallOpen) + std::string(body) + (closed ? std::string(kCallClose) : "");
  out.invalid_tool_calls.push_back(raw);
  total_.invalid_tool_calls.push_back(raw);
  content_text(raw, out);
}

void StreamParser::run(bool final, StreamDelta& out) {
  while (true) {
    switch (state_) {
      case State::Reasoning: {
        size_t p = buf_.find(opt_.reasoning_close);
        if (p != std::string::npos) {
          emit_reasoning(std::string_view(buf_).substr(0, p), out);
          buf_.erase(0, p + opt_.reasoning_close.size());
          state_ = State::AfterReasoning;
          continue;
        }
        size_t keep = final ? 0 : partial_tag_suffix(buf_, opt_.reasoning_close);
        emit_reasoning(std::string_view(buf_).substr(0, buf_.size() - keep), out);
        buf_.erase(0, buf_.size() - keep);
        return;
      }
      case State::AfterReasoning: {
        size_t k = skip_newlines(buf_);
        buf_.erase(0, k);
        if (buf_.empty()) return;  // still only newlines so far
        state_ = State::Content;
        continue;
      }
      case State::Content: {
        if (!opt_.tool_calls) {
          emit_content(buf_, out);
          buf_.clear();
          return;
        }
        size_t p = buf_.find(kCallOpen);
        if (p != std::string::npos) {
          content_text(std::string_view(buf_).substr(0, p), out);
          buf_.erase(0, p + kCallOpen.size());
          state_ = State::InToolCall;
          close_scanner_ = ToolCallCloseScanner{};
          continue;
        }
        size_t keep = final ? 0 : partial_tag_suffix(buf_, kCallOpen);
        content_text(std::string_view(buf_).substr(0, buf_.size() - keep), out);
        buf_.erase(0, buf_.size() - keep);
        return;
      }
      case State::InToolCall: {
        // Bytes that may begin a close tag wait for the next push.
        const size_t limit = final ? buf_.size() : buf_.size() - std::min(buf_.size(), kCallClose.size() - 1);
        size_t q = close_scanner_.scan(buf_, limit);
        if (q == std::string::npos && final) q = close_scanner_.first_tag;
        if (q != std::string::npos) {
          resolve_block(std::string_view(buf_).substr(0, q), true, out);
          buf_.erase(0, q + kCallClose.size());
          state_ = State::Content;
          continue;
        }
        if (final) {
          resolve_block(buf_, false, out);  // unclosed block at the end of generation
          buf_.clear();
          state_ = State::Content;
          continue;
        }
        return;
      }
      case State::Done: return;
    }
  }
}

}  // namespace exaone::chat

#include "server/tool_stream.h"

#include "util/json_file.h"

namespace exaone::server {

namespace {
constexpr std::string_view kOpen = "<tool_call>", kClose = "</tool_call>";
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
}  // namespace

std::vector<ToolCallDelta> ToolCallStreamer::push(std::string_view text) {
  std::vector<ToolCallDelta> out;
  auto args_piece = [&](char c) {
    if (out.empty() || out.back().index != index_) out.push_back({index_, false, "", ""});
    out.back().arguments += c;
  };
  for (char c : text) {
    switch (state_) {
      case State::Outside:
      case State::Tail: {
        buf_ += c;
        const std::string_view tag = state_ == State::Outside ? kOpen : kClose;
        if (buf_.size() >= tag.size() && std::string_view(buf_).substr(buf_.size() - tag.size()) == tag) {
          buf_.clear();
          if (state_ == State::Tail) {
            ++index_;
            state_ = State::Outside;
          } else {
            state_ = State::Head;
          }
        } else if (buf_.size() > 64) {
          buf_.erase(0, buf_.size() - tag.size());
        }
        break;
      }
      case State::Head: {
        buf_ += c;
        if (c != ':') break;
        // The head is complete once it parses with a value in place of what follows this colon:
        // {"name": "f", "arguments": <value>}. The grammar puts "name" first.
        json head;
        try {
          head = json::parse(buf_ + " null}");
        } catch (const json::exception&) {
          break;  // a colon inside a string, or the one after "name"
        }
        if (!head.is_object() || !head.contains("arguments") || !head.contains("name") || !head["name"].is_string()) break;
        out.push_back({index_, true, head["name"].get<std::string>(), ""});
        buf_.clear();
        state_ = State::Args;
        depth_ = 0;
        in_string_ = escape_ = started_ = false;
        break;
      }
      case State::Args: {
        if (!started_) {
          if (is_space(c)) break;
          started_ = true;
        }
        if (in_string_) {
          args_piece(c);
          if (escape_) escape_ = false;
          else if (c == '\\') escape_ = true;
          else if (c == '"') in_string_ = false;
          if (!in_string_ && depth_ == 0) state_ = State::Tail;  // a string value ends here
          break;
        }
        if (depth_ == 0 && (c == ',' || c == '}' || is_space(c))) {  // a scalar value ended before c
          state_ = State::Tail;
          buf_.assign(1, c);
          break;
        }
        args_piece(c);
        if (c == '"') in_string_ = true;
        else if (c == '{' || c == '[') ++depth_;
        else if ((c == '}' || c == ']') && --depth_ == 0) state_ = State::Tail;
        break;
      }
    }
  }
  return out;
}

}  // namespace exaone::server

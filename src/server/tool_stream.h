// Streams the arguments of grammar-constrained tool calls as the model writes them. With
// tool_choice "required" or a named function the output is known to be
// <tool_call>{"name": "...", "arguments": VALUE}</tool_call> blocks (the grammar guarantees it), so
// the name can be announced as soon as it is complete and VALUE passed on piece by piece; free-form
// tool calls (tool_choice "auto") are only sent once their block has closed and parsed.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace exaone::server {

struct ToolCallDelta {
  int index = 0;
  bool first = false;     // a new call: `name` is set
  std::string name;
  std::string arguments;  // the next piece of the arguments' JSON text
};

class ToolCallStreamer {
 public:
  std::vector<ToolCallDelta> push(std::string_view text);
  int calls() const { return index_ + (state_ == State::Args || state_ == State::Tail ? 1 : 0); }

 private:
  enum class State { Outside, Head, Args, Tail };
  State state_ = State::Outside;
  std::string buf_;    // Outside / Tail: text that may be part of a tag; Head: the call's JSON so far
  int index_ = 0;      // index of the current (or next) call
  int depth_ = 0;      // nesting inside the arguments value
  bool in_string_ = false, escape_ = false, started_ = false;
};

}  // namespace exaone::server

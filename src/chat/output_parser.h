// Parsing of generated text into reasoning, content and tool calls (spec §7.4), one-shot and
// incremental (streaming). For every way of cutting a text into chunks, the concatenated deltas of
// StreamParser equal parse_output() of the whole text.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "util/json_file.h"

namespace exaone::chat {

struct ParseOptions {
  // Whether the prompt left a reasoning block open (Rendered::reasoning_open). When true, text up
  // to the close tag is reasoning, newlines right after it are dropped, the rest is content; a
  // generation that stops before the close tag is all reasoning. When false, all is content.
  bool reasoning_open = false;
  std::string reasoning_close = "</think>";
  // Recognise <tool_call>{json}</tool_call> blocks in the content.
  bool tool_calls = true;
};

// Options for a format: close tag </think> (4.0, K-EXAONE) or </thought> (Deep); tool calls for
// 4.0 and K-EXAONE only.
ParseOptions parse_options(Format format, bool reasoning_open);

struct ToolCall {
  std::string name;
  json arguments;  // as generated (an object normally)
  // OpenAI `function.arguments`: the arguments as a JSON string, written like json.dumps.
  std::string arguments_json() const;
  bool operator==(const ToolCall& o) const { return name == o.name && arguments == o.arguments; }
};

// Content rules: a valid block {"name": string, "arguments"|"parameters": any} becomes a tool call
// (missing arguments -> {}); whitespace around valid blocks (the "\n" separators) is dropped; a
// block whose body is not such JSON stays in the content as text and is listed in
// invalid_tool_calls; an unclosed block at the end of the text is accepted if its body is valid.
struct ParsedOutput {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::vector<std::string> invalid_tool_calls;  // raw text of rejected blocks (also in content)
};

ParsedOutput parse_output(std::string_view text, const ParseOptions& options);

// OpenAI chat-completion message: {"role": "assistant", "content": ..., "reasoning_content": ...,
// "tool_calls": [{"id": "<prefix><n>", "type": "function", "function": {"name", "arguments"}}]}.
// content is null when empty and tool calls exist; reasoning_content is omitted when empty.
json to_openai_message(const ParsedOutput& parsed, const std::string& tool_call_id_prefix = "call_");

// Where a tool-call block ends: scans the text after "<tool_call>" once, resumably (the stream
// parser feeds it as text arrives). A body that opens with "{" ends at the first close tag outside
// its JSON strings (an argument may contain the text "</tool_call>"); any other body at the first
// tag. When the text ends without such a tag, the first tag inside a string (first_tag) closes it.
struct ToolCallCloseScanner {
  size_t pos = 0;
  bool in_string = false, escaped = false;
  int opens_json = -1;  // unknown until the first non-space byte
  size_t first_tag = std::string_view::npos;
  // Scans body[pos, limit); the position of the accepted close tag, or npos.
  size_t scan(std::string_view body, size_t limit);
};

struct StreamDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::vector<std::string> invalid_tool_calls;
  bool empty() const {
    return reasoning.empty() && content.empty() && tool_calls.empty() && invalid_tool_calls.empty();
  }
};

// Incremental parser: push() text as it is generated, finish() at the end of generation. Text that
// may still turn out to be a tag (e.g. "</thi", "<tool_"), whitespace that may precede a tool
// call, an unfinished tool-call block and an incomplete UTF-8 character are held back until decided.
class StreamParser {
 public:
  explicit StreamParser(ParseOptions options);
  StreamDelta push(std::string_view chunk);
  StreamDelta finish();
  // Everything emitted so far (equals parse_output(all text) after finish()).
  const ParsedOutput& accumulated() const { return total_; }

 private:
  enum class State { Reasoning, AfterReasoning, Content, InToolCall, Done };
  void run(bool final, StreamDelta& out);
  void content_text(std::string_view text, StreamDelta& out);
  void resolve_block(std::string_view body, bool closed, StreamDelta& out);
  void emit_reasoning(std::string_view s, StreamDelta& out);
  void emit_content(std::string_view s, StreamDelta& out);
  void flush_utf8(bool final, StreamDelta& out);

  ParseOptions opt_;
  State state_;
  std::string buf_;            // unprocessed input
  ToolCallCloseScanner close_scanner_;  // InToolCall: where the block ends
  std::string pending_ws_;     // content whitespace that may precede a tool call
  bool after_block_ = false;   // drop whitespace that follows a tool call
  std::string utf8_reasoning_; // decided text held only to avoid splitting a character
  std::string utf8_content_;
  ParsedOutput total_;
};

}  // namespace exaone::chat

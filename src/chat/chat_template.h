// Native (no Jinja) chat-prompt rendering for the EXAONE families, byte-exact with the official
// templates as transformers executes them. See spec §6 and docs in render() below.
#pragma once
#include <string>
#include <string_view>

#include "util/json_file.h"

namespace exaone::chat {

enum class Format {
  Exaone4,     // EXAONE 4.0: [|role|]\n markers, <think> blocks, tools, tool calls (spec §6.2)
  Exaone35,    // EXAONE 3.0 / 3.5: [|role|] markers, no reasoning, no tools (spec §6.4)
  ExaoneDeep,  // EXAONE Deep: 3.5 markers, <thought> reasoning (spec §6.4)
  KExaone,     // K-EXAONE / EXAONE 4.5: <|role|>\n markers (spec §6.6, best effort: observed format)
};

// "exaone4", "exaone3.5", "exaone-deep", "k-exaone".
const char* format_name(Format format);

// Chooses the format from the template text when it carries a marker (<|endofturn|> or
// <|tool_declare|> -> K-EXAONE; <thought> -> Deep; [|tool|] or <think> -> 4.0; [|endofturn|]
// -> 3.5), otherwise from config.json's model_type ("exaone4", "exaone", "exaone_moe",
// "exaone4_5"). Throws Error when neither identifies an EXAONE format.
Format detect_format(std::string_view model_type, std::string_view template_text);

// The chat template of a Hugging Face model folder: chat_template.jinja, else the
// `chat_template` field of tokenizer_config.json (a string, or a list of {name, template}
// from which "default" is taken). Returns "" when the folder has neither.
std::string load_chat_template(const std::string& model_dir);

// Reads config.json (model_type) and the chat template of a model folder and detects its format.
Format detect_model_format(const std::string& model_dir);

struct Rendered {
  std::string prompt;
  bool reasoning_open = false;  // the prompt ends inside an open think/thought block
};

// Renders an OpenAI-style request body:
//   messages (required): [{role, content, reasoning_content | thinking | reasoning, tool_calls}]
//     content: string, null, or a list of {"type": "text", "text": ...} parts (concatenated);
//     a tool message's content may be any JSON value (rendered JSON-encoded).
//     tool_calls: [{"function": {"name", "arguments"}}] or [{"name", "arguments"|"parameters"}];
//     `arguments` given as a JSON string is parsed to a value first (as training data had it);
//     an empty string counts as {}.
//   tools (optional): list of tool schemas, each rendered with json.dumps as supplied.
//   add_generation_prompt (optional bool, default true).
//   chat_template_kwargs (optional): enable_thinking, skip_think.
// Throws Error naming the message index and field for malformed requests.
Rendered render_chat(Format format, const json& request);
std::string render(Format format, const json& request);

// Reasoning tags of a format (<think>/</think>, <thought>/</thought>; empty for 3.5).
struct ReasoningTags {
  std::string open;
  std::string close;
};
ReasoningTags reasoning_tags(Format format);

// Whether a rendered prompt leaves a reasoning block open (ends with "<think>\n" or "<thought>\n").
bool prompt_opens_reasoning(Format format, std::string_view prompt);

}  // namespace exaone::chat

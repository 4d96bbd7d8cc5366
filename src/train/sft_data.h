// Supervised fine-tuning data: OpenAI-style chat JSONL rendered through the model's own chat format
// (the renderer `exaone run` and `serve` use), with the loss on assistant tokens only.
//
// One line: {"messages": [{"role", "content", "reasoning_content", "tool_calls"}...], "tools": [...],
// "enable_thinking": bool}. Assistant spans are found by rendering prefixes: for assistant message i,
// P = render(messages[:i], generation prompt) and E = render(messages[:i+1]); the tokens between
// |tok(P)| and |tok(E)| are the assistant's (its reasoning, content, tool calls and end of turn) when
// tok(P) and tok(E) are both token-wise prefixes of the full conversation's tokens. A turn whose
// render is not such a prefix (EXAONE 4.0 drops the reasoning of earlier turns from the history)
// becomes a row of its own, tok(E) with only that turn trained, so every assistant turn is trained
// exactly once and always as the model will see it at inference.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "util/json_file.h"

namespace exaone::train {

// One training row: tokens and, per token, whether it is an assistant token to predict.
struct SftRow {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> trained;  // trained[t]: tokens[t] is a target (predicted from tokens[..t-1])
  int64_t trained_count() const;
};

struct SftStats {
  int64_t examples = 0;         // JSONL lines with a conversation
  int64_t rows = 0;             // rows kept
  int64_t turns = 0;            // assistant turns trained
  int64_t split_turns = 0;      // of which in a row of their own (render not a prefix of the full one)
  int64_t untrainable_turns = 0;  // prefix render not a token prefix of the turn's own render: skipped
  int64_t truncated = 0;        // rows longer than seq + 1 tokens, cut
  int64_t skipped_long = 0;     // rows longer than seq + 1 tokens, dropped (no trained token left, or --skip-long)
  int64_t no_assistant = 0;     // examples without an assistant turn to train
  int64_t trained_tokens = 0;
};

struct SftOptions {
  int64_t seq = 512;          // a row has at most seq + 1 tokens (seq inputs, seq targets)
  bool skip_long = false;     // drop rows over the limit instead of cutting them
};

// Rows of one conversation (`example` is one JSONL object). `where` names it in errors ("file:line").
std::vector<SftRow> sft_rows(const json& example, chat::Format format, const Tokenizer& tok, SftStats& stats,
                             const std::string& where);

// Every line of JSONL text (blank lines ignored), then length limits applied. Errors name
// `name`:line and the field.
std::vector<SftRow> sft_rows_from_jsonl(const std::string& text, const std::string& name, chat::Format format,
                                        const Tokenizer& tok, const SftOptions& opt, SftStats& stats);

// One line summary of the stats ("12 examples -> 14 rows, ...").
std::string describe(const SftStats& s);

// A padded batch of rows: B rows of T = min(seq, longest row - 1) positions; targets[b, t] =
// tokens[b, t+1] where that token is trained, else -1; padding ids `pad` with target -1. Causal
// attention never lets a real position see the padding after it.
void sft_batch(const std::vector<const SftRow*>& rows, int64_t seq, int32_t pad, std::vector<int32_t>& tokens,
               std::vector<int32_t>& targets, int64_t& T);

}  // namespace exaone::train

// `exaone run` and `exaone chat`: prompts go through the model's chat format; reasoning is
// shown apart from the answer (stderr, dimmed on a terminal), tool calls as JSON lines.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "chat/chat_template.h"
#include "chat/conversation.h"
#include "chat/output_parser.h"
#include "cli/generation_commands.h"
#include "cli/cli.h"
#include "kernels/matmul.h"
#include "models/lora.h"
#include "models/model.h"
#include "runtime/model_files.h"
#include "runtime/session.h"
#include "util/error.h"

namespace exaone::cli {

namespace {

struct GenFlags {
  std::string model;
  float temperature = -1, top_p = -1, min_p = 0, repeat_penalty = -1, presence = 0, frequency = 0;
  int top_k = -1;
  uint64_t seed = 0;
  bool seed_set = false;
  int64_t max_tokens = 512, context = 0;
  std::vector<std::string> stop;
  bool think = false;
  std::string system;
  bool raw = false;
  std::string kv_type = "f32";
  std::string spec;  // "mtp": self-speculative decoding with the model's MTP layer
  int draft = 3;
  std::vector<std::string> lora;  // --lora PATH[:SCALE], repeatable
};

void add_generation_flags(CLI::App* cmd, GenFlags& f) {
  add_model_option(cmd, f.model);
  cmd->add_option("--temp,--temperature", f.temperature, "sampling temperature (0 = greedy)");
  cmd->add_option("--top-k", f.top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", f.top_p, "nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", f.min_p, "drop tokens below min_p x the top probability");
  cmd->add_option("--repeat-penalty", f.repeat_penalty, "HF repetition penalty (1 = off)");
  cmd->add_option("--presence-penalty", f.presence, "OpenAI presence penalty");
  cmd->add_option("--frequency-penalty", f.frequency, "OpenAI frequency penalty");
  cmd->add_option("--seed", f.seed, "random seed (same seed, same output)")->each([&](const std::string&) { f.seed_set = true; });
  cmd->add_option("-n,--max-tokens", f.max_tokens, "most tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("-c,--ctx", f.context, "context length (default: the model's)");
  cmd->add_option("--stop", f.stop, "stop string (repeatable)");
  cmd->add_flag("--think", f.think, "reasoning mode (EXAONE 4.0 enable_thinking)");
  cmd->add_option("--system", f.system, "system message");
  cmd->add_option("--kv-type", f.kv_type, "KV cache storage: f32 (default), f16, bf16, q8_0");
  cmd->add_option("--spec", f.spec,
                  "speculative decoding: mtp (the model's multi-token-prediction layer drafts tokens, one forward "
                  "verifies them; same output, greedy token for token)");
  cmd->add_option("--lora", f.lora, kLoraOptionHelp);
  cmd->add_option("--draft", f.draft, "tokens drafted per step with --spec (default 3)");
}

// --spec: checked before anything is generated. Speculation runs the kernels batch-invariant, so a
// verified row is computed exactly as a one-token step would be.
void check_spec(const GenFlags& f, const Model& m) {
  if (f.spec.empty()) return;
  if (f.spec != "mtp") fail("--spec: unknown method '" + f.spec + "' (supported: mtp)");
  if (f.draft < 1 || f.draft > 64) fail("--draft must be 1..64, got " + std::to_string(f.draft));
  if (!m.has_mtp())
    fail("--spec mtp: " + f.model +
         " has no multi-token-prediction layer (mtp.* tensors; K-EXAONE checkpoints carry one)");
  set_batch_invariant(true);
}

// Explicit flags win; then generation_config.json; then EXAONE's recommendations
// (reasoning: temperature 0.6, top_p 0.95; otherwise greedy).
GenerateOptions options_from(const GenFlags& f, const ModelConfig& c) {
  GenerateOptions o;
  SamplingParams& s = o.sampling;
  s.temperature = f.temperature >= 0 ? f.temperature
                  : c.gen_temperature >= 0 ? static_cast<float>(c.gen_temperature)
                  : f.think ? 0.6f : 0.0f;
  s.top_p = f.top_p > 0 ? f.top_p : c.gen_top_p > 0 ? static_cast<float>(c.gen_top_p) : f.think ? 0.95f : 1.0f;
  s.top_k = f.top_k >= 0 ? f.top_k : c.gen_top_k > 0 ? static_cast<int>(c.gen_top_k) : 0;
  s.min_p = f.min_p;
  s.repetition_penalty = f.repeat_penalty > 0 ? f.repeat_penalty
                         : c.gen_repetition_penalty > 0 ? static_cast<float>(c.gen_repetition_penalty) : 1.0f;
  s.presence_penalty = f.presence;
  s.frequency_penalty = f.frequency;
  s.seed = f.seed_set ? f.seed : static_cast<uint64_t>(std::random_device{}());
  o.max_tokens = f.max_tokens;
  o.stop = f.stop;
  if (f.spec == "mtp") o.spec.draft = f.draft;
  return o;
}

struct Printer {
  bool dim = isatty(STDERR_FILENO);
  bool in_reasoning = false;
  void delta(const chat::StreamDelta& d) {
    if (!d.reasoning.empty()) {
      if (!in_reasoning) std::fputs(dim ? "\x1b[2m[reasoning]\n" : "[reasoning]\n", stderr);
      in_reasoning = true;
      std::fwrite(d.reasoning.data(), 1, d.reasoning.size(), stderr);
      std::fflush(stderr);
    }
    if (!d.content.empty() || !d.tool_calls.empty()) end_reasoning();
    if (!d.content.empty()) {
      std::fwrite(d.content.data(), 1, d.content.size(), stdout);
      std::fflush(stdout);
    }
    for (const auto& t : d.tool_calls) {
      json j = {{"name", t.name}, {"arguments", t.arguments}};
      std::printf("\n[tool_call] %s\n", j.dump().c_str());
    }
  }
  void end_reasoning() {
    if (in_reasoning) std::fputs(dim ? "\n\x1b[0m[answer]\n" : "\n[answer]\n", stderr);
    in_reasoning = false;
  }
};

struct Loaded {
  std::unique_ptr<Model> model;
  Tokenizer tok;
  chat::Format format;
};

Loaded load_all(const std::string& path, const std::vector<std::string>& lora) {
  auto model = load_model(path, parse_lora_specs(lora));
  for (const std::string& line : describe_loras(*model)) std::fprintf(stderr, "[%s]\n", line.c_str());
  Tokenizer tok = load_tokenizer(path);  // HF folder or .gguf
  return Loaded{std::move(model), std::move(tok), load_chat_format(path)};
}

// Generates one assistant turn for `messages`; returns the parsed output.
// Room kept for the answer when a conversation is trimmed to the context.
int64_t answer_room(const Session& session, const GenFlags& f) {
  return std::min<int64_t>(f.max_tokens, session.max_context() / 2);
}

chat::ParsedOutput assistant_turn(Loaded& L, Session& session, json& messages, const GenFlags& f,
                                  GenerateResult* result = nullptr) {
  chat::Rendered rendered;
  std::vector<int> ids;
  auto render = [&](const json& msgs) {
    json req = {{"messages", msgs}, {"add_generation_prompt", true},
                {"chat_template_kwargs", {{"enable_thinking", f.think}}}};
    rendered = chat::render_chat(L.format, req);
    ids = L.tok.encode(rendered.prompt);
    return static_cast<int64_t>(ids.size()) + answer_room(session, f) <= session.max_context();
  };
  // A conversation longer than the context loses its oldest turns (the system prompt stays).
  if (const int dropped = chat::drop_oldest_turns(messages, render); dropped > 0)
    std::fprintf(stderr, "[context %lld tokens: the oldest %d turn%s dropped]\n",
                 static_cast<long long>(session.max_context()), dropped, dropped == 1 ? " was" : "s were");
  chat::StreamParser parser(chat::parse_options(L.format, rendered.reasoning_open));
  Printer out;
  GenerateOptions o = options_from(f, L.model->config());
  GenerateResult r = session.generate(ids, o, [&](std::string_view t) {
    out.delta(parser.push(t));
    return true;
  });
  out.delta(parser.finish());
  out.end_reasoning();
  std::fputs("\n", stdout);
  std::fflush(stdout);
  if (result) *result = r;
  if (r.finish_reason == "context")
    std::fprintf(stderr, "[context length %lld reached: generation stopped]\n",
                 static_cast<long long>(session.max_context()));
  else if (r.finish_reason == "length")
    std::fprintf(stderr, "[stopped after %lld tokens (--max-tokens)]\n", static_cast<long long>(o.max_tokens));
  return parser.accumulated();
}

void print_spec_stats(const GenFlags& f, const GenerateResult& r) {
  if (f.spec.empty() || r.spec.steps == 0) return;
  std::fprintf(stderr, "[spec mtp: %lld of %lld drafts accepted (%.1f %%), %.2f tokens per verify step]\n",
               static_cast<long long>(r.spec.accepted), static_cast<long long>(r.spec.drafted),
               100 * r.spec.acceptance_rate(), static_cast<double>(r.tokens.size()) / static_cast<double>(r.spec.steps));
}

void cmd_run(const GenFlags& f, const std::string& prompt) {
  Loaded L = load_all(f.model, f.lora);
  check_spec(f, *L.model);
  Session session(*L.model, L.tok, f.context, parse_kv_type(f.kv_type));
  if (f.raw) {  // plain completion, no chat format
    GenerateOptions o = options_from(f, L.model->config());
    const GenerateResult r = session.generate(L.tok.encode(prompt), o, [](std::string_view t) {
      std::fwrite(t.data(), 1, t.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fputs("\n", stdout);
    print_spec_stats(f, r);
    return;
  }
  json messages = json::array();
  if (!f.system.empty()) messages.push_back({{"role", "system"}, {"content", f.system}});
  messages.push_back({{"role", "user"}, {"content", prompt}});
  GenerateResult r;
  assistant_turn(L, session, messages, f, &r);
  print_spec_stats(f, r);
}

void cmd_chat(GenFlags f) {
  Loaded L = load_all(f.model, f.lora);
  check_spec(f, *L.model);
  Session session(*L.model, L.tok, f.context, parse_kv_type(f.kv_type));
  json messages = json::array();
  if (!f.system.empty()) messages.push_back({{"role", "system"}, {"content", f.system}});
  const bool tty = isatty(STDIN_FILENO);
  if (tty)
    std::fprintf(stderr, "exaone chat: %s. /reset clears the conversation, /think on|off, Ctrl-D exits.\n",
                 chat::format_name(L.format));
  std::string line;
  while (true) {
    if (tty) std::fputs("> ", stderr);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/reset") {
      messages = json::array();
      if (!f.system.empty()) messages.push_back({{"role", "system"}, {"content", f.system}});
      session.reset();
      std::fputs("[conversation cleared]\n", stderr);
      continue;
    }
    if (line == "/think on" || line == "/think off") {
      f.think = line == "/think on";
      std::fprintf(stderr, "[reasoning %s]\n", f.think ? "on" : "off");
      continue;
    }
    if (line.rfind("/", 0) == 0 && line.find(' ') == std::string::npos) {
      std::fprintf(stderr, "[unknown command %s: /reset, /think on|off]\n", line.c_str());
      continue;
    }
    messages.push_back({{"role", "user"}, {"content", line}});
    try {
      chat::ParsedOutput out = assistant_turn(L, session, messages, f);
      // History keeps the answer without reasoning (the template drops it anyway).
      json msg = chat::to_openai_message(out);
      msg.erase("reasoning_content");
      if (msg["content"].is_null()) msg["content"] = "";
      messages.push_back(msg);
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      messages.erase(messages.size() - 1);
    }
  }
}

}  // namespace

void register_generation_commands(CLI::App& app) {
  {
    static GenFlags f;
    static std::string prompt;
    auto* cmd = app.add_subcommand("run", "answer one prompt (through the model's chat format), streaming");
    add_generation_flags(cmd, f);
    cmd->add_option("-p,--prompt", prompt, "the user message")->required();
    cmd->add_flag("--raw", f.raw, "complete the prompt text as is, without the chat format");
    cmd->callback([] { cmd_run(f, prompt); });
  }
  {
    static GenFlags f;
    auto* cmd = app.add_subcommand("chat", "interactive multi-turn chat (/reset, /think on|off, Ctrl-D exits)");
    add_generation_flags(cmd, f);
    cmd->callback([] { cmd_chat(f); });
  }
}

}  // namespace exaone::cli

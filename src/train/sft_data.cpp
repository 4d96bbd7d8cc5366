#include "train/sft_data.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "util/error.h"

namespace exaone::train {

int64_t SftRow::trained_count() const {
  int64_t n = 0;
  for (uint8_t t : trained) n += t != 0;
  return n;
}

namespace {

bool nonempty_string(const json& m, const char* key) {
  auto it = m.find(key);
  return it != m.end() && it->is_string() && !it->get<std::string>().empty();
}

// Whether an assistant message carries reasoning (then its turn is rendered with thinking on, so the
// prompt ends with an open think block as `exaone run --think` leaves it).
bool has_reasoning(const json& m) {
  if (nonempty_string(m, "reasoning_content") || nonempty_string(m, "thinking") || nonempty_string(m, "reasoning"))
    return true;
  auto c = m.find("content");
  return c != m.end() && c->is_string() && c->get<std::string>().find("</think>") != std::string::npos;
}

bool is_prefix(const std::vector<int>& p, const std::vector<int>& of) {
  return p.size() <= of.size() && std::equal(p.begin(), p.end(), of.begin());
}

}  // namespace

std::vector<SftRow> sft_rows(const json& example, chat::Format format, const Tokenizer& tok, SftStats& stats,
                             const std::string& where) {
  if (!example.is_object()) fail(where + ": expected a JSON object with 'messages'");
  auto mit = example.find("messages");
  if (mit == example.end() || !mit->is_array() || mit->empty())
    fail(where + ": 'messages' must be a non-empty array");
  const json& msgs = *mit;
  for (size_t i = 0; i < msgs.size(); ++i)
    if (!msgs[i].is_object() || !msgs[i].contains("role") || !msgs[i]["role"].is_string())
      fail(where + ": messages[" + std::to_string(i) + "].role: expected a string");
  json tools = json::array();
  if (auto t = example.find("tools"); t != example.end() && !t->is_null()) {
    if (!t->is_array()) fail(where + ": 'tools' must be an array");
    tools = *t;
  }
  int forced_thinking = -1;  // -1: per turn, from whether the turn has reasoning
  if (auto e = example.find("enable_thinking"); e != example.end() && !e->is_null()) {
    if (!e->is_boolean()) fail(where + ": 'enable_thinking' must be true or false");
    forced_thinking = e->get<bool>() ? 1 : 0;
  }
  ++stats.examples;

  auto render_ids = [&](size_t n, bool gen_prompt, bool thinking) {
    json req = {{"messages", json(std::vector<json>(msgs.begin(), msgs.begin() + static_cast<std::ptrdiff_t>(n)))},
                {"add_generation_prompt", gen_prompt},
                // skip_think false: the last assistant turn keeps its reasoning (the default drops it).
                {"chat_template_kwargs", {{"enable_thinking", thinking}, {"skip_think", false}}}};
    if (!tools.empty()) req["tools"] = tools;
    try {
      return tok.encode(chat::render(format, req));
    } catch (const Error& e) {
      fail(where + ": " + e.what());
    }
  };
  auto thinking_of = [&](size_t i) { return forced_thinking >= 0 ? forced_thinking == 1 : has_reasoning(msgs[i]); };

  size_t last_assistant = msgs.size();
  for (size_t i = 0; i < msgs.size(); ++i)
    if (msgs[i]["role"] == "assistant") last_assistant = i;
  if (last_assistant == msgs.size()) {
    ++stats.no_assistant;
    return {};
  }
  const std::vector<int> full = render_ids(msgs.size(), false, thinking_of(last_assistant));
  SftRow main;
  main.tokens.assign(full.begin(), full.end());
  main.trained.assign(full.size(), 0);
  std::vector<SftRow> rows;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (msgs[i]["role"] != "assistant") continue;
    const bool thinking = thinking_of(i);
    const std::vector<int> p = render_ids(i, true, thinking), e = render_ids(i + 1, false, thinking);
    if (!is_prefix(p, e) || p.size() == e.size()) {
      ++stats.untrainable_turns;
      continue;
    }
    ++stats.turns;
    // The span ends with the end-of-turn token: what the template writes after it (a newline before
    // the next role marker) is scaffolding that generation never produces (it stops at EOS).
    size_t end = e.size();
    if (const auto eos = tok.eos_id())
      for (size_t j = e.size(); j > p.size(); --j)
        if (e[j - 1] == *eos) {
          end = j;
          break;
        }
    // Only e[0, end) must match the conversation: what the template writes after the end of turn is
    // not trained, and a tokenizer may merge it with the next turn's marker (an lstrip special token
    // absorbs the newline before it), so the whole of e need not be a prefix.
    if (end <= full.size() && std::equal(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(end), full.begin())) {
      std::fill(main.trained.begin() + static_cast<std::ptrdiff_t>(p.size()),
                main.trained.begin() + static_cast<std::ptrdiff_t>(end), 1);
    } else {
      ++stats.split_turns;
      SftRow r;
      r.tokens.assign(e.begin(), e.end());
      r.tokens.resize(end);
      r.trained.assign(end, 0);
      std::fill(r.trained.begin() + static_cast<std::ptrdiff_t>(p.size()), r.trained.end(), 1);
      rows.push_back(std::move(r));
    }
  }
  if (main.trained_count() > 0) rows.insert(rows.begin(), std::move(main));
  if (rows.empty()) ++stats.no_assistant;
  return rows;
}

std::vector<SftRow> sft_rows_from_jsonl(const std::string& text, const std::string& name, chat::Format format,
                                        const Tokenizer& tok, const SftOptions& opt, SftStats& stats) {
  std::vector<SftRow> out;
  std::istringstream in(text);
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = name + ":" + std::to_string(lineno);
    json ex;
    try {
      ex = json::parse(line);
    } catch (const std::exception& e) {
      fail(where + ": not valid JSON (" + std::string(e.what()) + ")");
    }
    for (SftRow& r : sft_rows(ex, format, tok, stats, where)) {
      const size_t limit = static_cast<size_t>(opt.seq + 1);
      if (r.tokens.size() > limit) {
        r.tokens.resize(limit);
        r.trained.resize(limit);
        // The first token is never a target (nothing precedes it).
        if (opt.skip_long || std::count(r.trained.begin() + 1, r.trained.end(), 1) == 0) {
          ++stats.skipped_long;
          continue;
        }
        ++stats.truncated;
      }
      if (r.tokens.size() < 2) continue;
      stats.trained_tokens += r.trained_count() - r.trained[0];
      out.push_back(std::move(r));
    }
  }
  stats.rows = static_cast<int64_t>(out.size());
  return out;
}

std::string describe(const SftStats& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%lld examples -> %lld rows, %lld assistant turns (%lld in rows of their own), %lld trained tokens; "
                "%lld rows cut to --seq, %lld dropped as too long, %lld turns not trainable, %lld examples "
                "without an assistant turn",
                static_cast<long long>(s.examples), static_cast<long long>(s.rows), static_cast<long long>(s.turns),
                static_cast<long long>(s.split_turns), static_cast<long long>(s.trained_tokens),
                static_cast<long long>(s.truncated), static_cast<long long>(s.skipped_long),
                static_cast<long long>(s.untrainable_turns), static_cast<long long>(s.no_assistant));
  return buf;
}

void sft_batch(const std::vector<const SftRow*>& rows, int64_t seq, int32_t pad, std::vector<int32_t>& tokens,
               std::vector<int32_t>& targets, int64_t& T) {
  T = 1;
  for (const SftRow* r : rows) T = std::max<int64_t>(T, static_cast<int64_t>(r->tokens.size()) - 1);
  T = std::min(T, seq);
  const int64_t B = static_cast<int64_t>(rows.size());
  tokens.assign(static_cast<size_t>(B * T), pad);
  targets.assign(static_cast<size_t>(B * T), -1);
  for (int64_t b = 0; b < B; ++b) {
    const SftRow& r = *rows[static_cast<size_t>(b)];
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(r.tokens.size()) - 1, T);
    for (int64_t t = 0; t < n; ++t) {
      tokens[static_cast<size_t>(b * T + t)] = r.tokens[static_cast<size_t>(t)];
      if (r.trained[static_cast<size_t>(t + 1)]) targets[static_cast<size_t>(b * T + t)] = r.tokens[static_cast<size_t>(t + 1)];
    }
  }
}

}  // namespace exaone::train

// The serving engine on the bundled model: output of a request is identical alone or among many
// (greedy and seeded), prompts read in small chunks give the same output, the prefix cache
// reuses KV and stays exact (sliding-window layers included), cancellation frees the slot, the
// queue is bounded, and bad requests are refused before they run.
#include <gtest/gtest.h>

#include <thread>

#include "grammar/grammar.h"
#include "server/engine.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone::server {
namespace {

struct Fixture {
  std::unique_ptr<Model> model = load_model(path_join(project_home(), "models/exaone4-tiny"));
  Tokenizer tok = Tokenizer::from_model_path(path_join(project_home(), "models/exaone4-tiny"));
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

struct Result {
  std::string text;
  std::vector<TokenLogprob> logprobs;
  Progress last;
};

Result collect(const std::shared_ptr<RequestHandle>& h) {
  Result r;
  Progress p;
  while (!p.done) {
    if (!h->wait(p, std::chrono::milliseconds(5000))) ADD_FAILURE() << "no progress for 5 s";
  }
  r.text = p.text;
  r.logprobs = p.logprobs;
  r.last = p;
  return r;
}

GenerationRequest request(const std::string& user, int64_t max_tokens, float temperature = 0, uint64_t seed = 1) {
  GenerationRequest g;
  g.prompt = fixture().tok.encode("[|user|]\n" + user + "[|endofturn|]\n[|assistant|]\n");
  g.max_tokens = max_tokens;
  g.sampling.temperature = temperature;
  g.sampling.top_k = temperature > 0 ? 50 : 0;
  g.sampling.seed = seed;
  g.logprobs = 0;
  return g;
}

std::vector<std::string> prompts() {
  std::vector<std::string> p;
  for (int i = 0; i < 12; ++i) {
    std::string s = i % 3 == 0 ? "공통 시스템 안내문입니다. 질문 " : "Question number ";
    for (int k = 0; k <= i * 7; ++k) s += static_cast<char>('a' + (k * 7 + i) % 26);
    p.push_back(s);
  }
  return p;
}

void expect_same(const Result& a, const Result& b, const std::string& what) {
  EXPECT_EQ(a.text, b.text) << what;
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size()) << what;
  for (size_t i = 0; i < a.logprobs.size(); ++i) {
    EXPECT_EQ(a.logprobs[i].id, b.logprobs[i].id) << what << " token " << i;
    EXPECT_EQ(a.logprobs[i].logprob, b.logprobs[i].logprob) << what << " token " << i;  // bit-identical logits
  }
  EXPECT_EQ(a.last.finish_reason, b.last.finish_reason) << what;
}

TEST(Engine, OutputIsTheSameAloneAndInAFullBatch) {
  Fixture& f = fixture();
  for (float temperature : {0.0f, 0.8f}) {
    std::vector<Result> alone;
    {
      Engine e(*f.model, f.tok, EngineOptions{1, 0, DType::F32, 64, 512});
      int i = 0;
      for (const auto& p : prompts()) {
        alone.push_back(collect(e.submit(request(p, 20 + (i % 4) * 10, temperature, i + 1))));
        ++i;
      }
    }
    // Eight slots, prompts read 3 tokens per step: requests join and leave the batch mid-way.
    Engine e(*f.model, f.tok, EngineOptions{8, 0, DType::F32, 64, 3});
    std::vector<std::shared_ptr<RequestHandle>> handles;
    int i = 0;
    for (const auto& p : prompts()) {
      handles.push_back(e.submit(request(p, 20 + (i % 4) * 10, temperature, i + 1)));
      ++i;
    }
    for (size_t k = 0; k < handles.size(); ++k)
      expect_same(alone[k], collect(handles[k]), "request " + std::to_string(k) + " at temperature " + std::to_string(temperature));
  }
}

TEST(Engine, PrefixCacheReusesKvAndStaysExact) {
  Fixture& f = fixture();
  Engine cold(*f.model, f.tok, EngineOptions{2, 0, DType::F32, 8, 512});
  GenerationRequest first = request("첫 번째 질문입니다. 슬라이딩 윈도우보다 긴 프롬프트를 씁니다.", 16);
  Result r1 = collect(cold.submit(first));
  EXPECT_EQ(r1.last.cached_tokens, 0);
  // The next turn extends the first: everything the slot holds is reused.
  GenerationRequest second = first;
  for (const auto& t : r1.logprobs) second.prompt.push_back(t.id);  // the answer's own tokens
  for (int id : f.tok.encode("[|endofturn|]\n[|user|]\n다음 질문[|endofturn|]\n[|assistant|]\n")) second.prompt.push_back(id);
  Result r2 = collect(cold.submit(second));
  EXPECT_GE(r2.last.cached_tokens, static_cast<int64_t>(first.prompt.size() + r1.logprobs.size()) - 1);
  // A prompt that diverges inside the sliding window still matches a fresh engine.
  GenerationRequest third = first;
  third.prompt.resize(third.prompt.size() - 3);
  for (int id : f.tok.encode("다른 끝")) third.prompt.push_back(id);
  Result r3 = collect(cold.submit(third));
  Engine fresh(*f.model, f.tok, EngineOptions{1, 0, DType::F32, 8, 512});
  expect_same(collect(fresh.submit(second)), r2, "second turn");
  expect_same(collect(fresh.submit(third)), r3, "diverging prompt");
}

TEST(Engine, CancelFreesTheSlotAtOnce) {
  Fixture& f = fixture();
  Engine e(*f.model, f.tok, EngineOptions{1, 0, DType::F32, 8, 512});
  GenerationRequest g = request("long answer", 1000000);
  g.ignore_eos = true;
  auto h = e.submit(g);
  Progress p;
  ASSERT_TRUE(h->wait(p, std::chrono::milliseconds(5000)));
  h->cancel();
  // The one slot is free again: a new request runs to the end.
  Result r = collect(e.submit(request("next", 5)));
  EXPECT_EQ(r.last.finish_reason, "length");
  for (int i = 0; i < 100 && e.stats().running > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(e.stats().running, 0u);
}

TEST(Engine, QueueIsBoundedAndBadRequestsAreRefused) {
  Fixture& f = fixture();
  Engine e(*f.model, f.tok, EngineOptions{1, 64, DType::F32, 2, 512});
  GenerationRequest long_prompt = request("x", 5);
  long_prompt.prompt.assign(64, 5);
  EXPECT_THROW(e.submit(long_prompt), Error);
  GenerationRequest empty = request("x", 5);
  empty.prompt.clear();
  EXPECT_THROW(e.submit(empty), Error);
  GenerationRequest bad_id = request("x", 5);
  bad_id.prompt[0] = 1 << 30;
  EXPECT_THROW(e.submit(bad_id), Error);
  GenerationRequest bad_bias = request("x", 5);
  bad_bias.logit_bias = {{-1, 1.0f}};
  EXPECT_THROW(e.submit(bad_bias), Error);
  // One running, two waiting, then the queue is full.
  std::vector<std::shared_ptr<RequestHandle>> hs;
  GenerationRequest slow = request("slow", 1000000);
  slow.ignore_eos = true;
  slow.max_tokens = 40;
  bool full = false;
  for (int i = 0; i < 6 && !full; ++i) {
    try {
      hs.push_back(e.submit(slow));
    } catch (const QueueFull&) {
      full = true;
    }
  }
  EXPECT_TRUE(full);
  for (auto& h : hs) EXPECT_EQ(collect(h).last.finish_reason, "length");
}

TEST(Engine, StopStringsAndContextLimit) {
  Fixture& f = fixture();
  Engine e(*f.model, f.tok, EngineOptions{2, 48, DType::F32, 8, 512});
  GenerationRequest g = request("hi", 30);
  Result free_run = collect(e.submit(g));
  ASSERT_GT(free_run.text.size(), 4u);
  g.stop = {free_run.text.substr(2, 2)};
  Result stopped = collect(e.submit(g));
  EXPECT_EQ(stopped.last.finish_reason, "stop");
  EXPECT_EQ(stopped.text, free_run.text.substr(0, free_run.text.find(g.stop[0])));
  GenerationRequest fill = request("fill the context", 1000);
  fill.ignore_eos = true;
  Result r = collect(e.submit(fill));
  EXPECT_EQ(r.last.finish_reason, "length");
  EXPECT_EQ(r.last.prompt_tokens + r.last.completion_tokens, 49);  // the last sampled token needs no room
}

TEST(Engine, GrammarConstrainsTheOutput) {
  Fixture& f = fixture();
  Engine e(*f.model, f.tok, EngineOptions{2, 0, DType::F32, 8, 512});
  GenerationRequest g = request("json please", 200);
  g.grammar = grammar::json_value(json::parse(R"({"type":"object","properties":{"n":{"type":"integer"},"ok":{"type":"boolean"}},"required":["n","ok"]})"));
  Result r = collect(e.submit(g));
  EXPECT_EQ(r.last.finish_reason, "stop") << r.text;
  json j = json::parse(r.text);
  EXPECT_TRUE(j["n"].is_number_integer()) << r.text;
  EXPECT_TRUE(j["ok"].is_boolean()) << r.text;
}

TEST(Engine, ShutdownEndsEveryRequest) {
  Fixture& f = fixture();
  auto e = std::make_unique<Engine>(*f.model, f.tok, EngineOptions{1, 0, DType::F32, 8, 512});
  GenerationRequest g = request("forever", 1000000);
  g.ignore_eos = true;
  auto running = e->submit(g), queued = e->submit(g);
  e->shutdown();
  EXPECT_EQ(collect(running).last.finish_reason, "error");
  EXPECT_EQ(collect(queued).last.finish_reason, "error");
  EXPECT_THROW(e->submit(g), Error);
}

// A prompt that starts like a running request's (a shared system prompt) gets that request's KV
// rows copied, and its output is the same as alone.
TEST(Engine, SharedPrefixWithARunningRequestIsCopied) {
  Fixture& f = fixture();
  std::string shared = "공통 시스템 안내문: 이 도우미는 서울의 날씨와 교통을 안내합니다. ";
  for (int i = 0; i < 6; ++i) shared += "Rule " + std::to_string(i) + ": answer briefly and politely. ";
  const GenerationRequest a = request(shared + "첫 번째 질문", 60);
  const GenerationRequest b = request(shared + "두 번째 질문입니다", 16);
  size_t shared_tokens = 0;
  while (shared_tokens < a.prompt.size() && a.prompt[shared_tokens] == b.prompt[shared_tokens]) ++shared_tokens;
  ASSERT_GT(shared_tokens, 40u);
  Result alone;
  {
    Engine e(*f.model, f.tok, EngineOptions{1, 0, DType::F32, 64, 512});
    alone = collect(e.submit(b));
  }
  Engine e(*f.model, f.tok, EngineOptions{2, 0, DType::F32, 64, 512});
  auto ha = e.submit(a);
  Progress p;
  while (p.completion_tokens == 0 && !p.done) ASSERT_TRUE(ha->wait(p, std::chrono::milliseconds(5000)));
  Result rb = collect(e.submit(b));
  EXPECT_EQ(rb.last.cached_tokens, static_cast<int64_t>(shared_tokens));
  expect_same(alone, rb, "request sharing a running request's prefix");
  collect(ha);
}

// A burst of requests behind one system prompt: the first computes it, the others wait for that
// part and copy it; every output is the same as alone.
TEST(Engine, BurstSharingAPrefixComputesItOnce) {
  Fixture& f = fixture();
  std::string shared = "System: you are a helpful assistant for a bank in Seoul. ";
  for (int i = 0; i < 8; ++i) shared += "Policy " + std::to_string(i) + " applies to every answer. ";
  std::vector<GenerationRequest> reqs;
  for (const char* q : {"잔액 조회", "How do I open an account?", "환전 수수료는?", "Opening hours"})
    reqs.push_back(request(shared + q, 12));
  size_t shared_tokens = reqs[0].prompt.size();
  for (const auto& r : reqs) {
    size_t c = 0;
    while (c < r.prompt.size() && c < reqs[0].prompt.size() && r.prompt[c] == reqs[0].prompt[c]) ++c;
    if (&r != &reqs[0]) shared_tokens = std::min(shared_tokens, c);
  }
  ASSERT_GT(shared_tokens, 60u);
  std::vector<Result> alone;
  {
    Engine e(*f.model, f.tok, EngineOptions{1, 0, DType::F32, 64, 512});
    for (const auto& r : reqs) alone.push_back(collect(e.submit(r)));
  }
  Engine e(*f.model, f.tok, EngineOptions{4, 0, DType::F32, 64, 512});
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (const auto& r : reqs) handles.push_back(e.submit(r));
  int64_t cached = 0;
  for (size_t k = 0; k < handles.size(); ++k) {
    Result r = collect(handles[k]);
    expect_same(alone[k], r, "burst request " + std::to_string(k));
    cached += r.last.cached_tokens;
  }
  EXPECT_GE(cached, 3 * static_cast<int64_t>(shared_tokens));
}

}  // namespace
}  // namespace exaone::server

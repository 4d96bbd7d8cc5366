// The decode loop on the bundled default model: seeded sampling reproducible, greedy equal to
// argmax of full recomputes, stop strings, token limits and the context limit.
#include <gtest/gtest.h>

#include "runtime/session.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone {
namespace {

struct Fixture {
  std::unique_ptr<Model> model = load_model(path_join(project_home(), "models/exaone4-tiny"));
  Tokenizer tok = Tokenizer::from_model_path(path_join(project_home(), "models/exaone4-tiny"));
};

TEST(Session, SeededSamplingIsReproducible) {
  Fixture f;
  std::vector<int> prompt = f.tok.encode("[|user|]\n안녕하세요, EXAONE![|endofturn|]\n[|assistant|]\n");
  GenerateOptions o;
  o.max_tokens = 24;
  o.sampling.temperature = 0.9f;
  o.sampling.top_k = 40;
  o.sampling.seed = 42;
  Session a(*f.model, f.tok), b(*f.model, f.tok);
  auto ra = a.generate(prompt, o), rb = b.generate(prompt, o);
  EXPECT_EQ(ra.tokens, rb.tokens);
  EXPECT_EQ(ra.text, rb.text);
  // A follow-up prompt that extends the conversation reuses every cached position.
  std::vector<int> next = prompt;
  next.insert(next.end(), ra.tokens.begin(), ra.tokens.end());
  for (int id : f.tok.encode("[|endofturn|]\n[|user|]\n고마워요[|endofturn|]\n[|assistant|]\n")) next.push_back(id);
  auto rc = a.generate(next, o);
  EXPECT_EQ(rc.reused_tokens, static_cast<int64_t>(prompt.size() + ra.tokens.size()));
  // The same prompt in a fresh session gives the same output as with the reused cache.
  Session fresh(*f.model, f.tok);
  EXPECT_EQ(fresh.generate(next, o).tokens, rc.tokens);
}

TEST(Session, GreedyMatchesFullRecompute) {
  Fixture f;
  std::vector<int> prompt = f.tok.encode("Hello world");
  GenerateOptions o;
  o.max_tokens = 8;
  o.stop_at_eos = false;
  Session s(*f.model, f.tok);
  auto r = s.generate(prompt, o);
  ASSERT_EQ(r.tokens.size(), 8u);
  std::vector<int32_t> seq(prompt.begin(), prompt.end());
  const int64_t V = f.model->config().vocab_size, limit = std::min<int64_t>(V, f.tok.vocab_size());
  for (int id : r.tokens) {
    auto cache = f.model->new_cache();
    std::vector<float> logits;
    SequenceChunk c{seq, cache.get(), false};
    f.model->forward({&c, 1}, logits);
    int best = 0;
    for (int v = 1; v < limit; ++v)
      if (logits[v] > logits[best]) best = v;
    EXPECT_EQ(id, best);
    seq.push_back(id);
  }
  EXPECT_EQ(r.finish_reason, "length");
}

TEST(Session, StopStringEndsGenerationAndIsNotEmitted) {
  Fixture f;
  std::vector<int> prompt = f.tok.encode("Hello world");
  GenerateOptions o;
  o.max_tokens = 16;
  o.stop_at_eos = false;
  Session s(*f.model, f.tok);
  auto full = s.generate(prompt, o);
  ASSERT_GE(full.text.size(), 4u);
  // Stop on a piece of what greedy decoding produces.
  o.stop = {full.text.substr(2, 2)};
  std::string streamed;
  auto r = s.generate(prompt, o, [&](std::string_view t) {
    streamed += t;
    return true;
  });
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.text, full.text.substr(0, full.text.find(o.stop[0])));
  EXPECT_EQ(streamed, r.text);
}

TEST(Session, ContextLimitIsReported) {
  Fixture f;
  std::vector<int> prompt = f.tok.encode("Hello world, hello");
  GenerateOptions o;
  o.max_tokens = 100;
  o.stop_at_eos = false;
  Session s(*f.model, f.tok, static_cast<int64_t>(prompt.size()) + 3);
  auto r = s.generate(prompt, o);
  EXPECT_EQ(r.finish_reason, "context");
  EXPECT_LE(static_cast<int64_t>(prompt.size() + r.tokens.size()), s.max_context());
  Session tiny(*f.model, f.tok, 2);
  EXPECT_THROW(tiny.generate(prompt, o), Error);
}

}  // namespace
}  // namespace exaone

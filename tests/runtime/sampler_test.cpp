#include <gtest/gtest.h>

#include <map>

#include "runtime/sampler.h"
#include "runtime/session.h"
#include "util/error.h"

namespace exaone {
namespace {

TEST(Sampler, GreedyPicksArgmaxAndSkipsPaddingRows) {
  Sampler s({}, 4);
  std::vector<float> l{0.1f, 2.0f, -1.0f, 0.5f, 9.0f /* padding row */};
  EXPECT_EQ(s.sample(l, {}, {}), 1);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.9f;
  p.seed = 1234;
  auto draw = [&](uint64_t seed) {
    p.seed = seed;
    Sampler s(p, 50);
    std::vector<int> out;
    for (int i = 0; i < 200; ++i) {
      std::vector<float> l(50);
      for (int v = 0; v < 50; ++v) l[v] = static_cast<float>((v * 7 + i) % 13) * 0.3f;
      out.push_back(s.sample(l, out, out));
    }
    return out;
  };
  EXPECT_EQ(draw(1234), draw(1234));
  EXPECT_NE(draw(1234), draw(99));
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 1;
  Sampler s(p, 5);
  for (int i = 0; i < 20; ++i) {
    std::vector<float> l{0, 1, 3, 2, 0};
    EXPECT_EQ(s.sample(l, {}, {}), 2);
  }
}

TEST(Sampler, TopPAndMinPRestrictTheSupport) {
  // Probabilities ~ {0.64, 0.24, 0.09, 0.03}: top_p 0.7 keeps two, min_p 0.3 keeps two.
  std::vector<float> base{std::log(0.64f), std::log(0.24f), std::log(0.09f), std::log(0.03f)};
  for (int mode = 0; mode < 2; ++mode) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.seed = 7;
    if (mode == 0) p.top_p = 0.7f;
    else p.min_p = 0.3f;
    Sampler s(p, 4);
    std::map<int, int> seen;
    for (int i = 0; i < 2000; ++i) {
      auto l = base;
      seen[s.sample(l, {}, {})]++;
    }
    EXPECT_EQ(seen.count(2) + seen.count(3), 0u) << "mode " << mode;
    EXPECT_GT(seen[1], 300);
  }
}

TEST(Sampler, PenaltiesFollowHfAndOpenAiDefinitions) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  Sampler s(p, 3);
  std::vector<float> l{4.0f, -1.0f, 3.0f};
  std::vector<int> ctx{0, 0, 1};
  EXPECT_EQ(s.sample(l, ctx, {}), 2);  // 4/2 = 2 < 3
  EXPECT_FLOAT_EQ(l[0], 2.0f);
  EXPECT_FLOAT_EQ(l[1], -2.0f);  // negative logits are multiplied

  SamplingParams q;
  q.presence_penalty = 1.0f;
  q.frequency_penalty = 0.5f;
  Sampler t(q, 3);
  std::vector<float> m{3.0f, 2.9f, 0.0f};
  std::vector<int> gen{0, 0};
  EXPECT_EQ(t.sample(m, gen, gen), 1);
  EXPECT_FLOAT_EQ(m[0], 3.0f - 1.0f - 1.0f);
}

TEST(Sampler, RejectsBadParameters) {
  SamplingParams p;
  p.top_p = 0.0f;
  EXPECT_THROW(Sampler(p, 3), Error);
  p.top_p = 1.0f;
  p.min_p = 2.0f;
  EXPECT_THROW(Sampler(p, 3), Error);
}

TEST(StopStrings, HeldBackPrefix) {
  EXPECT_EQ(stop_prefix_overlap("hello [|end", {"[|endofturn|]"}), 5u);
  EXPECT_EQ(stop_prefix_overlap("hello", {"[|endofturn|]"}), 0u);
  EXPECT_EQ(stop_prefix_overlap("ab", {"bc", "abx"}), 2u);
}

}  // namespace
}  // namespace exaone

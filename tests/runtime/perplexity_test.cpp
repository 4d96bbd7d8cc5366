// Perplexity (llama.cpp method) against a reference computed here from full-forward logits of
// each chunk: same chunks, same scored positions, a separate double log-softmax.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/perplexity.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone {
namespace {

const char* kText =
    "The quick brown fox jumps over the lazy dog. EXAONE is a family of language models from LG AI Research. "
    "서울은 대한민국의 수도이며, 한강이 도시를 가로질러 흐른다. Perplexity measures how well a model predicts "
    "the next token; lower is better. 오늘 날씨가 맑아서 공원에 산책을 나갔다. 1, 2, 3, 4, 5, 6, 7, 8, 9, 10. "
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n";

struct Fixture {
  std::unique_ptr<Model> model = load_model(path_join(project_home(), "models/exaone4-tiny"));
  Tokenizer tok = Tokenizer::from_model_path(path_join(project_home(), "models/exaone4-tiny"));
  std::vector<int> ids = tok.encode(kText);
};

struct Reference {
  double ppl, err;
  int64_t count;
};

// One full forward per chunk with every position's logits; tokens ctx/2+1 .. ctx-1 scored.
Reference reference_ppl(Model& model, const std::vector<int>& ids, int64_t ctx, int bos = -1) {
  const int64_t vocab = model.config().vocab_size;
  long double sum = 0, sum2 = 0;
  int64_t count = 0;
  for (int64_t start = 0; start + ctx <= static_cast<int64_t>(ids.size()); start += ctx) {
    std::vector<int32_t> chunk(ids.begin() + start, ids.begin() + start + ctx);
    if (bos >= 0) chunk[0] = bos;
    auto cache = model.new_cache(ctx);
    std::vector<float> logits;
    SequenceChunk c{chunk, cache.get(), true};
    model.forward({&c, 1}, logits);
    EXPECT_EQ(static_cast<int64_t>(logits.size()), ctx * vocab);
    for (int64_t j = ctx / 2; j < ctx - 1; ++j) {
      const float* row = logits.data() + j * vocab;
      long double z = 0;
      for (int64_t v = 0; v < vocab; ++v) z += std::exp(static_cast<long double>(row[v]));
      const long double nll = std::log(z) - row[chunk[j + 1]];
      sum += nll;
      sum2 += nll * nll;
      ++count;
    }
  }
  const double mean = static_cast<double>(sum / count);
  const double ppl = std::exp(mean);
  const double var = static_cast<double>(sum2 / count) - mean * mean;
  return {ppl, ppl * std::sqrt(var / (count - 1)), count};
}

TEST(Perplexity, TokenNllIsLogSoftmax) {
  const float logits[2] = {0.0f, std::log(3.0f)};
  EXPECT_NEAR(token_nll(logits, 2, 1), -std::log(0.75), 1e-7);
  EXPECT_NEAR(token_nll(logits, 2, 0), -std::log(0.25), 1e-7);
  // Large logits must not overflow.
  const float big[3] = {1000.0f, 1000.0f, 1000.0f};
  EXPECT_NEAR(token_nll(big, 3, 2), std::log(3.0), 1e-9);
}

TEST(Perplexity, MatchesFullForwardReference) {
  Fixture f;
  ASSERT_GE(f.ids.size(), 64u);
  for (int64_t ctx : {16, 11}) {
    const Reference ref = reference_ppl(*f.model, f.ids, ctx);
    PerplexityOptions o;
    o.ctx = ctx;
    int64_t calls = 0;
    PerplexityResult r = compute_perplexity(*f.model, f.ids, o, [&](int64_t chunk, int64_t n, double ppl) {
      EXPECT_EQ(chunk, calls++);
      EXPECT_EQ(n, static_cast<int64_t>(f.ids.size()) / ctx);
    });
    EXPECT_EQ(r.chunks, static_cast<int64_t>(f.ids.size()) / ctx);
    EXPECT_EQ(calls, r.chunks);
    EXPECT_EQ(r.scored_tokens, ref.count);
    EXPECT_EQ(r.scored_tokens, r.chunks * (ctx - 1 - ctx / 2));
    EXPECT_NEAR(r.ppl, ref.ppl, 1e-9 * ref.ppl) << "ctx " << ctx;
    EXPECT_NEAR(r.ppl_error, ref.err, 1e-6 * ref.err);
    EXPECT_NEAR(r.mean_nll, std::log(ref.ppl), 1e-9);
    ASSERT_EQ(static_cast<int64_t>(r.running_ppl.size()), r.chunks);
    EXPECT_DOUBLE_EQ(r.running_ppl.back(), r.ppl);
    EXPECT_GT(r.ppl, 1.0);
  }
}

TEST(Perplexity, BatchSizeDoesNotChangeTheResult) {
  Fixture f;
  const int64_t ctx = 16;
  const Reference ref = reference_ppl(*f.model, f.ids, ctx);
  // Pieces smaller than a chunk (continuing the cache), and several chunks per call.
  for (int64_t batch : {1, 5, 8, 16, 32, 48, 1000}) {
    PerplexityOptions o;
    o.ctx = ctx;
    o.batch = batch;
    PerplexityResult r = compute_perplexity(*f.model, f.ids, o);
    EXPECT_EQ(r.scored_tokens, ref.count) << "batch " << batch;
    EXPECT_NEAR(r.ppl, ref.ppl, 1e-4 * ref.ppl) << "batch " << batch;
    EXPECT_EQ(static_cast<int64_t>(r.running_ppl.size()), r.chunks);
  }
}

TEST(Perplexity, ChunkLimitAndBos) {
  Fixture f;
  PerplexityOptions o;
  o.ctx = 16;
  o.max_chunks = 2;
  PerplexityResult r = compute_perplexity(*f.model, f.ids, o);
  EXPECT_EQ(r.chunks, 2);
  std::vector<int> first_two(f.ids.begin(), f.ids.begin() + 32);
  EXPECT_NEAR(r.ppl, reference_ppl(*f.model, first_two, 16).ppl, 1e-9 * r.ppl);

  o.max_chunks = 0;
  o.bos_id = 1;
  PerplexityResult rb = compute_perplexity(*f.model, f.ids, o);
  const Reference ref = reference_ppl(*f.model, f.ids, 16, 1);
  EXPECT_NEAR(rb.ppl, ref.ppl, 1e-9 * ref.ppl);
}

TEST(Perplexity, BadInputIsAnError) {
  Fixture f;
  PerplexityOptions o;
  auto expect_error = [&](const PerplexityOptions& opt, std::span<const int> ids, const std::string& part) {
    try {
      compute_perplexity(*f.model, ids, opt);
      ADD_FAILURE() << "no error; expected one mentioning " << part;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  o.ctx = 2;
  expect_error(o, f.ids, "--ctx must be at least 3");
  o.ctx = 0;
  expect_error(o, f.ids, "--ctx must be at least 3");
  o.ctx = 4096;  // the tiny model's context is 2048
  expect_error(o, f.ids, "context length 2048");
  o.ctx = 16;
  std::vector<int> short_ids(f.ids.begin(), f.ids.begin() + 31);
  expect_error(o, short_ids, "at least 2 * ctx = 32");
  expect_error(o, {}, "has 0 tokens");
  std::vector<int> bad = f.ids;
  bad[20] = 999999;
  expect_error(o, bad, "position 20");
  bad[20] = -1;
  expect_error(o, bad, "position 20");
  o.batch = -1;
  expect_error(o, f.ids, "--batch");
  o.batch = 0;
  o.bos_id = 5000;
  expect_error(o, f.ids, "BOS id 5000");
}

}  // namespace
}  // namespace exaone

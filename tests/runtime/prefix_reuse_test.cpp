// Prefix reuse on a hybrid model (sliding window 4): reuse_cached_prefix falls back to the
// cache's checkpoint (the end of the last prompt) when the common prefix runs past it into an
// answer the sliding layers' rings no longer hold, as a chat turn with thinking off does.
#include <gtest/gtest.h>

#include <random>

#include "models/model.h"
#include "runtime/session.h"
#include "util/paths.h"

namespace exaone {
namespace {

std::vector<int32_t> random_ids(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(n);
  for (auto& id : ids) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return ids;
}

TEST(PrefixReuse, FallsBackToTheCheckpoint) {
  auto model = load_model(path_join(project_home(), "tests/fixtures/models/exaone4-hybrid-layertypes"));
  const int vocab = static_cast<int>(model->config().vocab_size);
  auto feed = [&](KVCache& cache, std::span<const int32_t> ids) {
    std::vector<float> logits;
    SequenceChunk c{ids, &cache, false};
    model->forward({&c, 1}, logits);
  };
  const auto prompt = random_ids(300, vocab, 8);
  const auto answer = random_ids(500, vocab, 9);
  auto c = model->new_cache();
  feed(*c, prompt);
  c->checkpoint();
  for (size_t i = 0; i < answer.size(); i += 5) feed(*c, std::span<const int32_t>(answer.data() + i, 5));
  std::vector<int> cached(prompt.begin(), prompt.end());
  cached.insert(cached.end(), answer.begin(), answer.end());
  std::vector<int> next(cached.begin(), cached.begin() + 300 + 100);  // shares 100 answer tokens
  next.push_back(1);
  EXPECT_EQ(reuse_cached_prefix(*c, cached, next), 300u);
  EXPECT_EQ(cached.size(), 300u);
  EXPECT_EQ(c->n_past(), 300);
  // Without a checkpoint the same request recomputes everything.
  auto plain = model->new_cache();
  feed(*plain, prompt);
  for (size_t i = 0; i < answer.size(); i += 5) feed(*plain, std::span<const int32_t>(answer.data() + i, 5));
  cached.assign(prompt.begin(), prompt.end());
  cached.insert(cached.end(), answer.begin(), answer.end());
  EXPECT_EQ(reuse_cached_prefix(*plain, cached, next), 0u);
}

}  // namespace
}  // namespace exaone

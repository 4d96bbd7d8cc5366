// KV cache checkpoints on a hybrid model (sliding window 4, ring = window + kRingSlack): after the
// end of a prompt is checkpointed, a cache that has gone on for longer than its ring can still be
// cut back to the prompt, and the logits that follow equal a fresh computation bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "kernels/matmul.h"
#include "models/model.h"
#include "util/paths.h"

namespace exaone {
namespace {

std::vector<int32_t> random_ids(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(n);
  for (auto& id : ids) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return ids;
}

class KVCheckpoint : public ::testing::Test {
 protected:
  // Bit-identical logits under any chunking need the batch-invariant kernels.
  void SetUp() override { set_batch_invariant(true); }
  void TearDown() override { set_batch_invariant(false); }

  std::unique_ptr<Model> model =
      load_model(path_join(project_home(), "tests/fixtures/models/exaone4-hybrid-layertypes"));
  int vocab() const { return static_cast<int>(model->config().vocab_size); }

  std::vector<float> feed(KVCache& cache, std::span<const int32_t> ids, bool all_logits = false) {
    std::vector<float> logits;
    SequenceChunk c{ids, &cache, all_logits};
    model->forward({&c, 1}, logits);
    return logits;
  }
  // Feeds `ids` a few tokens at a time, as decode steps would.
  void feed_steps(KVCache& cache, const std::vector<int32_t>& ids) {
    for (size_t i = 0; i < ids.size(); i += 7)
      feed(cache, std::span<const int32_t>(ids.data() + i, std::min<size_t>(7, ids.size() - i)));
  }
};

TEST_F(KVCheckpoint, CutsBackToThePromptAfterALongAnswer) {
  ASSERT_GT(model->config().sliding_window, 0);
  const int64_t ring = model->config().sliding_window + KVCache::kRingSlack;
  const auto prompt = random_ids(300, vocab(), 1);  // longer than the ring
  const auto answer = random_ids(static_cast<int>(ring) + 150, vocab(), 2);
  const auto next = random_ids(20, vocab(), 3);

  auto cache = model->new_cache();
  feed(*cache, prompt);
  cache->checkpoint();
  EXPECT_EQ(cache->checkpoint_position(), 300);
  feed_steps(*cache, answer);

  for (int64_t cut : {int64_t{300}, int64_t{290}, 300 - KVCache::kRingSlack}) {
    auto c = model->new_cache();
    feed(*c, prompt);
    c->checkpoint();
    feed_steps(*c, answer);
    ASSERT_TRUE(c->truncate(cut)) << cut;
    EXPECT_EQ(c->n_past(), cut);
    EXPECT_EQ(c->checkpoint_position(), cut == 300 ? 300 : -1);  // dropped below it: rows would be stale
    const auto got = feed(*c, next, true);

    auto fresh = model->new_cache();
    feed(*fresh, std::span<const int32_t>(prompt.data(), static_cast<size_t>(cut)));
    const auto want = feed(*fresh, next, true);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float))) << "cut at " << cut;
  }

  // Too far back for the ring as it was at the checkpoint, and past the checkpoint: refused,
  // nothing changed.
  const int64_t before = cache->n_past();
  EXPECT_FALSE(cache->truncate(300 - ring));
  EXPECT_FALSE(cache->truncate(310));
  EXPECT_EQ(cache->n_past(), before);

  // Without a checkpoint the answer has overwritten what the prompt's end needs.
  auto plain = model->new_cache();
  feed(*plain, prompt);
  feed_steps(*plain, answer);
  EXPECT_FALSE(plain->truncate(290));
}

TEST_F(KVCheckpoint, CutBackTwiceAndAfterAnotherAnswer) {
  const auto prompt = random_ids(280, vocab(), 4);
  const auto a1 = random_ids(400, vocab(), 5);
  const auto a2 = random_ids(350, vocab(), 6);
  const auto next = random_ids(9, vocab(), 7);
  auto c = model->new_cache();
  feed(*c, prompt);
  c->checkpoint();
  feed_steps(*c, a1);
  ASSERT_TRUE(c->truncate(280));  // back to the checkpoint, which stays
  feed_steps(*c, a2);             // a second, different answer overwrites the ring again
  ASSERT_TRUE(c->truncate(275));
  const auto got = feed(*c, next, true);
  auto fresh = model->new_cache();
  feed(*fresh, std::span<const int32_t>(prompt.data(), 275));
  const auto want = feed(*fresh, next, true);
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)));
  EXPECT_EQ(c->checkpoint_position(), -1);
  c->clear();
  EXPECT_EQ(c->checkpoint_position(), -1);
}

// A prefix copied from another cache (the server's shared system prompts) gives the logits of a
// fresh computation; rows the source's rings no longer hold are never used.
TEST_F(KVCheckpoint, CopiedPrefixIsExact) {
  const auto ids = random_ids(600, vocab(), 10);  // more than the ring (260)
  const auto next = random_ids(12, vocab(), 11);
  auto src = model->new_cache();
  feed_steps(*src, ids);
  auto dst = model->new_cache();
  feed(*dst, std::span<const int32_t>(next.data(), 5));  // whatever it held is replaced
  EXPECT_FALSE(dst->copy_prefix_from(*src, 300));  // src's rings have overwritten what 300 needs
  EXPECT_EQ(dst->n_past(), 5);
  EXPECT_FALSE(dst->copy_prefix_from(*src, 601));
  ASSERT_TRUE(dst->copy_prefix_from(*src, 500));
  EXPECT_EQ(dst->n_past(), 500);
  const auto got = feed(*dst, next, true);
  auto fresh = model->new_cache();
  feed(*fresh, std::span<const int32_t>(ids.data(), 500));
  const auto want = feed(*fresh, next, true);
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)));
  // Cutting back stays within the rows that were copied.
  EXPECT_TRUE(dst->truncate(480));
  EXPECT_FALSE(dst->truncate(330));
  dst->clear();
  EXPECT_TRUE(dst->copy_prefix_from(*src, 599));
}

}  // namespace
}  // namespace exaone

// Batch invariance (what the server's "greedy output is the same alone or in a full batch"
// rests on): with set_batch_invariant(true), a sequence's logits are bit-identical however its
// tokens are split into chunks and whatever other sequences share the forward pass, for every
// weight type and KV cache type.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <unistd.h>

#include "kernels/matmul.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "util/paths.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;

std::vector<int32_t> random_ids(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(n);
  for (auto& id : ids) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return ids;
}

// Logits of every position of `a`, fed in one chunk, alone.
std::vector<float> alone(Model& m, const std::vector<int32_t>& a, DType kv) {
  auto cache = m.new_cache(0, kv);
  std::vector<float> logits;
  SequenceChunk c{a, cache.get(), true};
  m.forward({&c, 1}, logits);
  return logits;
}

// The same positions fed in chunks of varying sizes, each chunk batched with other sequences
// (a long prompt of its own and single decode tokens), the chunk not always first in the batch.
std::vector<float> batched(Model& m, const std::vector<int32_t>& a, DType kv) {
  const int64_t V = m.config().vocab_size;
  auto cache = m.new_cache(0, kv);
  auto other = m.new_cache(0, kv), d1 = m.new_cache(0, kv), d2 = m.new_cache(0, kv);
  const auto other_ids = random_ids(200, static_cast<int>(V), 7);
  const auto decode_ids = random_ids(200, static_cast<int>(V), 9);
  std::vector<float> out, logits;
  const int sizes[] = {1, 5, 2, 13, 1, 1, 7, 3, 64, 1};
  size_t pos = 0, o = 0, k = 0;
  for (int step = 0; pos < a.size(); ++step) {
    const size_t n = std::min<size_t>(sizes[step % 10], a.size() - pos);
    std::vector<SequenceChunk> batch;
    SequenceChunk mine{std::span<const int32_t>(a.data() + pos, n), cache.get(), true};
    SequenceChunk prompt{std::span<const int32_t>(other_ids.data() + o, 3 + step % 4), other.get(), step % 2 == 0};
    SequenceChunk one{std::span<const int32_t>(decode_ids.data() + k, 1), d1.get(), false};
    SequenceChunk two{std::span<const int32_t>(decode_ids.data() + k + 1, 1), d2.get(), false};
    if (step % 3 == 0) batch = {prompt, mine, one};
    else if (step % 3 == 1) batch = {mine, two, one, prompt};
    else batch = {two, mine};
    m.forward(batch, logits);
    int64_t row = 0;
    for (const auto& c : batch) {
      const int64_t rows = c.all_logits ? static_cast<int64_t>(c.tokens.size()) : 1;
      if (c.cache == cache.get()) out.insert(out.end(), logits.begin() + row * V, logits.begin() + (row + rows) * V);
      row += rows;
    }
    o += 3 + step % 4;
    k += 2;
    pos += n;
  }
  return out;
}

void expect_invariant(Model& m, const std::string& what) {
  const auto a = random_ids(150, static_cast<int>(m.config().vocab_size), 3);  // past the sliding window and a key tile
  for (DType kv : {DType::F32, DType::F16, DType::Q8_0}) {
    if (kv == DType::Q8_0 && m.config().head_dim % 32 != 0) continue;  // Q8_0 rows need 32-blocks
    const auto x = alone(m, a, kv), y = batched(m, a, kv);
    ASSERT_EQ(x.size(), y.size());
    size_t diff = 0;
    for (size_t i = 0; i < x.size(); ++i) diff += std::memcmp(&x[i], &y[i], sizeof(float)) != 0;
    EXPECT_EQ(diff, 0u) << what << " with a " << dtype_name(kv) << " cache: " << diff << " of " << x.size()
                        << " logits differ";
  }
}

class BatchInvariance : public ::testing::Test {
 protected:
  void SetUp() override { set_batch_invariant(true); }
  void TearDown() override { set_batch_invariant(false); }
};

TEST_F(BatchInvariance, Bf16Checkpoint) {
  auto m = load_model(path_join(project_home(), "models/exaone4-tiny"));
  expect_invariant(*m, "BF16");
}

TEST_F(BatchInvariance, QuantisedWeightsPackedAndFileLayout) {
  const std::string dir = path_join(project_home(), "models/exaone4-tiny");
  for (const char* type : {"q8_0", "q4_0", "q4_k", "f16"}) {
    const std::string out =
        (fs::temp_directory_path() / ("exaone_inv_" + std::to_string(::getpid()) + "_" + type + ".gguf")).string();
    convert_to_gguf(dir, out, parse_gguf_out_type(type), true);
    for (const char* repack : {"1", "0"}) {
      ::setenv("EXAONE_REPACK", repack, 1);
      auto m = load_model(out);
      expect_invariant(*m, std::string(type) + (repack[0] == '1' ? " (packed)" : " (file layout)"));
    }
    ::unsetenv("EXAONE_REPACK");
    fs::remove(out);
  }
}

// K-EXAONE: the tokens of all sequences are routed together and share the per-expert GEMMs, so
// an expert sees a different number of rows in every batch; each row must still come out the same.
TEST_F(BatchInvariance, MoeCheckpointAndQuantisedExperts) {
  const std::string dir = path_join(project_home(), "tests/fixtures/models/kexaone-moe-experts");
  auto m = load_model(dir);
  expect_invariant(*m, "K-EXAONE BF16");
  auto f = load_model(path_join(project_home(), "tests/fixtures/models/kexaone-moe-fused"));
  expect_invariant(*f, "K-EXAONE F32 fused");
  const std::string out = (fs::temp_directory_path() / ("exaone_inv_moe_" + std::to_string(::getpid()) + ".gguf")).string();
  convert_to_gguf(dir, out, parse_gguf_out_type("q8_0"), true);
  auto q = load_model(out);
  expect_invariant(*q, "K-EXAONE Q8_0");
  fs::remove(out);
}

}  // namespace
}  // namespace exaone

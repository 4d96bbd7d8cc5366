// K-EXAONE's MTP layer through GGUF: `exaone convert` writes it as llama.cpp's NextN block
// (blk.<L>.*, nextn.eh_proj / enorm / hnorm / shared_head_norm, counted in block_count, the
// attention type as the pattern's extra entry) and the loader binds it back as the MTP layer:
// the same MTP logits as from the Hugging Face folder (which mtp_test.cpp holds to the float64
// reference), and main logits unchanged.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "golden.h"
#include "loaders/gguf.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "util/mapped_file.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;
const fs::path kModels = fs::path(EXAONE_FIXTURES) / "models";

// MTP logits of every (h_p, ids[p+1]) pair plus one chained step from the last row.
std::vector<float> mtp_logits(Model& m, const std::vector<int32_t>& ids) {
  auto cache = m.new_cache();
  std::vector<float> logits, hidden;
  SequenceChunk c{ids, cache.get(), true};
  m.forward_hidden({&c, 1}, logits, hidden);
  const int64_t T = static_cast<int64_t>(ids.size()), H = m.config().hidden;
  std::vector<int32_t> next(ids.begin() + 1, ids.end());
  auto mc = m.new_mtp_cache();
  std::vector<float> out, own;
  MtpChunk k{next, hidden.data(), mc.get(), T - 1};
  m.mtp_forward({&k, 1}, out, own);
  const std::vector<float> last(own.end() - H, own.end());
  const int32_t tok = ids[0];
  std::vector<float> out2, own2;
  MtpChunk d{std::span<const int32_t>(&tok, 1), last.data(), mc.get(), 1};
  m.mtp_forward({&d, 1}, out2, own2);
  out.insert(out.end(), out2.begin(), out2.end());
  out.insert(out.end(), logits.begin(), logits.end());  // and the main logits
  return out;
}

TEST(KExaoneNextNGguf, MtpLayerRoundTrips) {
  for (const char* name : {"kexaone-moe-experts", "kexaone-moe-fused"}) {
    SCOPED_TRACE(name);
    const fs::path dir = kModels / name;
    const fs::path out = fs::temp_directory_path() / ("kexaone_nextn_" + std::string(name) + "_" +
                                                      std::to_string(::getpid()) + ".gguf");
    convert_to_gguf(dir.string(), out.string(), DType::F32, true);
    auto hf = load_model(dir.string());
    const int64_t L = hf->config().n_layers;
    {
      MappedFile mf(out.string());
      GgufFile f = parse_gguf(mf.data(), mf.size(), out.string());
      EXPECT_EQ(f.opt_int("exaone-moe.block_count"), L + 1);
      EXPECT_EQ(f.opt_int("exaone-moe.nextn_predict_layers"), 1);
      const std::string b = "blk." + std::to_string(L) + ".";
      for (const char* t : {"nextn.eh_proj", "nextn.enorm", "nextn.hnorm", "nextn.shared_head_norm", "attn_norm",
                            "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm", "ffn_norm",
                            "ffn_gate", "ffn_up", "ffn_down"})
        EXPECT_NE(f.find_tensor(b + t + ".weight"), nullptr) << b << t;
    }
    auto g = load_model(out.string());
    ASSERT_TRUE(g->has_mtp());
    const ModelConfig& a = hf->config();
    const ModelConfig& c = g->config();
    EXPECT_EQ(c.n_layers, L);
    EXPECT_EQ(c.mtp_layers, 1);
    EXPECT_EQ(c.mtp_sliding, a.mtp_sliding);
    EXPECT_EQ(c.mtp_window, a.mtp_window);
    EXPECT_EQ(c.mtp_rope, a.mtp_rope);
    EXPECT_EQ(g->parameter_count(), hf->parameter_count());
    const Golden gold = read_golden(dir.string());
    const std::vector<float> want = mtp_logits(*hf, gold.ids), got = mtp_logits(*g, gold.ids);
    ASSERT_EQ(want.size(), got.size());
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(double(want[i]) - got[i]));
    EXPECT_LT(worst, 1e-4);  // F32 file: the same weights (BF16 widened exactly)
    fs::remove(out);
  }
}

}  // namespace
}  // namespace exaone

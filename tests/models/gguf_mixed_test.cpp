// Model files that mix storage types per tensor, as community GGUF files do (Q5_K_M, Q3_K_M,
// Q6_K_L with Q8_0 embeddings, IQ4_XS): written here from the bundled tiny model by re-typing each
// tensor of its F32 GGUF, then loaded and run; logits against the transformers golden values.
// The tiny model's 128-wide rows do not fit 256-element super-blocks: they take llama.cpp's
// fallbacks (Q2_K/Q3_K/IQ4_XS -> IQ4_NL, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0), so the 32-element
// types run in the same files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <unistd.h>

#include "golden.h"
#include "kernels/quant_ext.h"
#include "kernels/quant_k.h"
#include "loaders/gguf.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "util/mapped_file.h"
#include "util/paths.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;

// Chooses a tensor's type from its GGUF name and layer (-1 for globals).
using TypeRule = std::function<DType(const std::string& name, int64_t layer)>;

int64_t layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::stoll(name.substr(4, name.find('.', 4) - 4));
}
bool has(const std::string& name, const char* part) { return name.find(part) != std::string::npos; }

// llama.cpp's fallback for rows that do not fit the chosen type's blocks (llama-quant.cpp).
DType fallback(DType t, int64_t cols) {
  if (cols % dtype_block_elems(t) == 0) return t;
  switch (t) {
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::IQ4_XS: t = DType::IQ4_NL; break;
    case DType::Q4_K: t = DType::Q5_0; break;
    case DType::Q5_K: t = DType::Q5_1; break;
    case DType::Q6_K: t = DType::Q8_0; break;
    default: break;
  }
  return cols % dtype_block_elems(t) == 0 ? t : DType::F16;
}

std::string temp_path(const std::string& tag) {
  return (fs::temp_directory_path() / ("exaone_mixed_" + std::to_string(::getpid()) + "_" + tag + ".gguf")).string();
}

// Writes `out`: the F32 conversion of `dir` with every matrix re-typed by `rule` (then fallback), and
// `twin`: the same model in F32 holding exactly the values the quantised matrices dequantise to.
// Returns GGUF name -> stored type.
std::map<std::string, DType> write_mixed(const std::string& dir, const std::string& out, const std::string& twin,
                                         const TypeRule& rule) {
  const std::string f32 = temp_path("f32");
  convert_to_gguf(dir, f32, DType::F32, true);
  std::map<std::string, DType> types;
  {
    MappedFile m(f32);
    const GgufFile f = parse_gguf(m.data(), m.size(), f32);
    GgufWriter w, w32;
    for (const auto& key : f.kv_order) {
      const GgufValue& v = f.kv.at(key);
      for (GgufWriter* g : {&w, &w32}) {
        if (v.type == GgufType::ARRAY) g->set_array(key, v.elem_type, v.value);
        else g->set(key, v.type, v.value);
      }
    }
    for (const auto& t : f.tensors) {
      const auto* src = t.view.data;
      if (t.view.shape.size() < 2) {
        w.add_tensor(t.name, t.view.dtype, t.view.shape, std::vector<uint8_t>(src, src + t.view.nbytes));
        w32.add_tensor(t.name, t.view.dtype, t.view.shape, std::vector<uint8_t>(src, src + t.view.nbytes));
        types[t.name] = t.view.dtype;
        continue;
      }
      const int64_t cols = t.view.shape.back(), rows = t.view.numel() / cols;
      std::vector<float> x(rows * cols);
      std::memcpy(x.data(), src, x.size() * sizeof(float));
      const DType type = fallback(rule(t.name, layer_of(t.name)), cols);
      std::vector<uint8_t> q = quantize_matrix_any(type, x.data(), rows, cols);
      dequantize_row_any(type, q.data(), x.data(), rows * cols);
      std::vector<uint8_t> f32(x.size() * sizeof(float));
      std::memcpy(f32.data(), x.data(), f32.size());
      w.add_tensor(t.name, type, t.view.shape, std::move(q));
      w32.add_tensor(t.name, DType::F32, t.view.shape, std::move(f32));
      types[t.name] = type;
    }
    w.write(out);
    w32.write(twin);
  }
  fs::remove(f32);
  return types;
}

const std::string& tiny() {
  static const std::string dir = path_join(project_home(), "models/exaone4-tiny");
  return dir;
}

struct MixResult {
  Agreement golden;  // against transformers on the float weights: quantisation error included
  Agreement twin;    // against the F32 model of the dequantised weights: the kernels' own error
  double twin_max_abs = 0;
};

MixResult run_mix(const std::string& tag, const TypeRule& rule, std::map<std::string, DType>* types = nullptr) {
  const std::string out = temp_path(tag), twin = temp_path(tag + "_f32");
  auto t = write_mixed(tiny(), out, twin, rule);
  const Golden g = read_golden(tiny());
  MixResult r;
  {
    auto m = load_model(out);
    auto m32 = load_model(twin);
    const int64_t V = m->config().vocab_size;
    const std::vector<float> y = all_logits(*m, g.ids), y32 = all_logits(*m32, g.ids);
    std::vector<std::vector<float>> ref32(g.ids.size());
    for (size_t p = 0; p < g.ids.size(); ++p) ref32[p].assign(y32.begin() + p * V, y32.begin() + (p + 1) * V);
    r.golden = agreement(g.logits, y.data(), V);
    r.twin = agreement(ref32, y.data(), V);
    for (size_t i = 0; i < y.size(); ++i) r.twin_max_abs = std::max(r.twin_max_abs, double(std::fabs(y[i] - y32[i])));
  }
  fs::remove(out);
  fs::remove(twin);
  std::printf("[gguf-mixed] %-8s vs golden KL %.3e top1 %.3f | vs dequantised F32 KL %.3e top1 %.3f max|dlogit| %.3f\n",
              tag.c_str(), r.golden.mean_kl, r.golden.top1, r.twin.mean_kl, r.twin.top1, r.twin_max_abs);
  if (types) *types = std::move(t);
  return r;
}

// llama.cpp's use_more_bits (llama-quant.cpp).
bool more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }
constexpr int64_t kLayers = 4;

// Q5_K_M: Q5_K, Q6_K for the output (the tied embedding) and for attn_v / ffn_down of use_more_bits layers.
DType q5_k_m(const std::string& name, int64_t layer) {
  if (name == "token_embd.weight" || name == "output.weight") return DType::Q6_K;
  if ((has(name, "attn_v") || has(name, "ffn_down")) && more_bits(layer, kLayers)) return DType::Q6_K;
  return DType::Q5_K;
}

// Q3_K_M: Q3_K; attn_v Q5_K for the first two layers else Q4_K; ffn_down Q5_K below n/16 else Q4_K;
// attn_output Q4_K; output Q6_K.
DType q3_k_m(const std::string& name, int64_t layer) {
  if (name == "token_embd.weight" || name == "output.weight") return DType::Q6_K;
  if (has(name, "attn_v")) return layer < 2 ? DType::Q5_K : DType::Q4_K;
  if (has(name, "ffn_down")) return layer < kLayers / 16 ? DType::Q5_K : DType::Q4_K;
  if (has(name, "attn_output")) return DType::Q4_K;
  return DType::Q3_K;
}

// The kernels' own error (int8 activations against the float model of the same dequantised weights)
// is the tight check; against the golden, the quantisation error of this random, sensitive model
// dominates (Q8_0 alone gives KL ~1e-2, gguf_kquant_test.cpp), so those bounds are a few times the
// measured values and the mixes must order by their bits.
void expect_kernels_exact(const MixResult& r, const char* what) {
  // Measured 3.3e-3 (Q8_0) to 6.1e-3 (Q5_K_M), top-1 0.85 to 1: the int8 activations' rounding only.
  EXPECT_LT(r.twin.mean_kl, 0.02) << what;
  EXPECT_GE(r.twin.top1, 0.75) << what;
}

TEST(GgufMixed, Q5KMAndQ6KL) {
  std::map<std::string, DType> types;
  const MixResult q5 = run_mix("q5_k_m", q5_k_m, &types);
  EXPECT_EQ(types["blk.2.ffn_down.weight"], DType::Q6_K);  // 4 layers: use_more_bits for layers 2 and 3
  EXPECT_EQ(types["blk.1.ffn_down.weight"], DType::Q5_K);
  EXPECT_EQ(types["blk.1.attn_q.weight"], DType::Q5_1);     // 128-wide rows: Q5_K's fallback
  EXPECT_EQ(types["token_embd.weight"], DType::Q8_0);       // Q6_K's fallback
  // Q6_K_L: Q6_K with Q8_0 embeddings and output.
  const MixResult q6l = run_mix("q6_k_l", [](const std::string& name, int64_t) {
    return name == "token_embd.weight" || name == "output.weight" ? DType::Q8_0 : DType::Q6_K;
  });
  const MixResult q8 = run_mix("q8_0", [](const std::string&, int64_t) { return DType::Q8_0; });
  for (const MixResult* r : {&q5, &q6l, &q8}) expect_kernels_exact(*r, "q5_k_m / q6_k_l / q8_0");
  EXPECT_LT(q5.golden.mean_kl, 0.6);  // measured 0.22 (mostly Q5_1: the rows are 128 wide)
  EXPECT_LT(q6l.golden.mean_kl, 0.05);  // measured 1.7e-2
  EXPECT_LT(q8.golden.mean_kl, q6l.golden.mean_kl * 1.5);
  EXPECT_LT(q6l.golden.mean_kl, q5.golden.mean_kl);
  RecordProperty("q5_k_m_kl", std::to_string(q5.golden.mean_kl));
}

TEST(GgufMixed, Q3KMAndIQ4XS) {
  std::map<std::string, DType> types;
  const MixResult q3 = run_mix("q3_k_m", q3_k_m, &types);
  EXPECT_EQ(types["blk.0.ffn_down.weight"], DType::Q4_K);
  EXPECT_EQ(types["blk.0.attn_q.weight"], DType::IQ4_NL);  // Q3_K's fallback
  EXPECT_EQ(types["blk.0.attn_v.weight"], DType::Q5_1);
  const MixResult iq4 = run_mix("iq4_xs", [](const std::string&, int64_t) { return DType::IQ4_XS; }, &types);
  EXPECT_EQ(types["blk.2.ffn_down.weight"], DType::IQ4_XS);
  expect_kernels_exact(q3, "q3_k_m");
  expect_kernels_exact(iq4, "iq4_xs");
  EXPECT_LT(q3.golden.mean_kl, 1.2);  // measured 0.45
  EXPECT_LT(iq4.golden.mean_kl, 2.5);  // measured 1.0 (mostly IQ4_NL)
  EXPECT_LT(q3.golden.mean_kl, iq4.golden.mean_kl);
}

// Every type in one file: the four ffn_down matrices (256 wide) take the four new super-block types,
// the other matrices cycle through every 32-element and float type.
TEST(GgufMixed, EveryTypeInOneFile) {
  const DType down[] = {DType::Q2_K, DType::Q3_K, DType::Q5_K, DType::IQ4_XS};
  const DType other[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                         DType::Q8_0, DType::IQ4_NL, DType::F16, DType::BF16};
  int next = 0;
  std::map<std::string, DType> types;
  const MixResult a = run_mix("zoo", [&](const std::string& name, int64_t layer) {
    if (has(name, "ffn_down")) return down[layer % 4];
    return other[next++ % 8];
  }, &types);
  std::set<DType> seen;
  for (const auto& [name, t] : types) seen.insert(t);
  for (DType t : down) EXPECT_TRUE(seen.count(t)) << dtype_name(t);
  for (DType t : other) EXPECT_TRUE(seen.count(t)) << dtype_name(t);
  expect_kernels_exact(a, "every type");
  EXPECT_LT(a.golden.mean_kl, 3.5);  // measured 1.5 (Q2_K and Q4_0 included)
}

}  // namespace
}  // namespace exaone

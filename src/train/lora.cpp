#include "train/lora.h"

#include <algorithm>
#include <cmath>

#include "kernels/gemm_train.h"
#include "train/ops.h"
#include "train/rng.h"
#include "util/error.h"
#include "util/parallel.h"

namespace exaone::train {

namespace {

// EXAONE 4.0 spellings -> EXAONE 3.x's own module names (the transformer.h.N.attn.attention / mlp layout).
const char* exaone3_name(const std::string& n) {
  if (n == "o_proj") return "out_proj";
  if (n == "gate_proj") return "c_fc_0";
  if (n == "up_proj") return "c_fc_1";
  if (n == "down_proj") return "c_proj";
  return nullptr;
}

// Whether element i of the mask keyed by `key` is dropped: a hash of (key, i / 4), 16 bits per element
// against p·2^16, so any thread split gives the same mask (and one hash serves four elements).
inline bool dropped(uint64_t key, uint64_t i, uint32_t threshold) {
  uint64_t s = key ^ ((i >> 2) * 0x9E3779B97F4A7C15ull);
  const uint64_t h = splitmix64(s);
  return static_cast<uint32_t>((h >> (16 * (i & 3))) & 0xFFFF) < threshold;
}

}  // namespace

// One adapted linear layer: y += scale·B·(A·dropout(x)).
class LoraLinear final : public LinearAdapter {
 public:
  LoraLinear(Param* a, Param* b, double scale, float dropout, uint64_t seed, uint64_t id)
      : a_(a), b_(b), scale_(static_cast<float>(scale)), p_(dropout), seed_(seed), id_(id) {}

  void set_call(uint64_t c) { calls_ = c; }
  const Param& a() const { return *a_; }
  const Param& b() const { return *b_; }
  float scale() const { return scale_; }

  // The products are arranged so that the rank is the GEMM's row count M (the micro-kernel's 8 rows)
  // rather than its column count (32-column strips: a rank-8 output would waste 3/4 of each tile):
  // the adapter's activations are kept transposed, uT = (scale·A·xdᵀ) [r, T].
  void forward(const float* x, int64_t T, float* y, bool training) override {
    const int64_t r = a_->shape[0], in = a_->shape[1], out = b_->shape[0];
    const GemmPrecision prec = matmul_precision();
    masked_ = training && p_ > 0;
    const float* xd = x;
    if (masked_) {
      key_ = mask_key(calls_++);
      drawn_ = false;
      apply_mask(x, T * in, xd_);
      xd = xd_.data();
    }
    ut_.resize(static_cast<size_t>(r * T));
    gemm_train(r, T, in, {a_->w.data(), in, false}, {xd, in, true}, ut_.data(), T, false, prec);
    for (float& v : ut_) v *= scale_;
    // y += u·Bᵀ
    gemm_train(T, out, r, {ut_.data(), T, true}, {b_->w.data(), r, true}, y, out, true, prec);
    if (masked_) std::vector<float>().swap(xd_);  // the backward rebuilds it from x and the kept bits
  }

  void backward(const float* dy, const float* x, int64_t T, float* dx) override {
    const int64_t r = a_->shape[0], in = a_->shape[1], out = b_->shape[0];
    const GemmPrecision prec = matmul_precision();
    // dBᵀ = uT·dy [r, out]; duT = scale·Bᵀ·dyᵀ [r, T]; dA += duT·xd; dx += mask((duT)ᵀ·A).
    if (!b_->g.empty()) {
      std::vector<float> dbt(static_cast<size_t>(r * out));
      gemm_train(r, out, T, {ut_.data(), T, false}, {dy, out, false}, dbt.data(), out, false, prec);
      float* g = b_->g.data();
      for (int64_t o = 0; o < out; ++o)
        for (int64_t k = 0; k < r; ++k) g[o * r + k] += dbt[k * out + o];
    }
    std::vector<float> dut(static_cast<size_t>(r * T));
    gemm_train(r, T, out, {b_->w.data(), r, true}, {dy, out, true}, dut.data(), T, false, prec);
    for (float& v : dut) v *= scale_;
    const float* xd = x;
    if (masked_) {
      apply_mask(x, T * in, xd_);
      xd = xd_.data();
    }
    if (!a_->g.empty()) gemm_train(r, in, T, {dut.data(), T, false}, {xd, in, false}, a_->g.data(), in, true, prec);
    if (!masked_) {
      gemm_train(T, in, r, {dut.data(), T, true}, {a_->w.data(), in, false}, dx, in, true, prec);
    } else {
      gemm_train(T, in, r, {dut.data(), T, true}, {a_->w.data(), in, false}, xd_.data(), in, false, prec);
      const float keep = 1.0f / (1.0f - p_);
      float* dxd = xd_.data();
      const uint64_t* bits = keep_bits_.data();
      parallel_for(T * in, balanced_chunk(T * in, 8192, 2), [&](int64_t b0, int64_t e0) {
        for (int64_t i = b0; i < e0; ++i)
          if (bits[i >> 6] >> (i & 63) & 1) dx[i] += dxd[i] * keep;
      });
      std::vector<float>().swap(xd_);
    }
  }

 private:
  uint32_t threshold() const { return static_cast<uint32_t>(std::lround(static_cast<double>(p_) * 65536.0)); }
  uint64_t mask_key(uint64_t call) const {
    uint64_t s = seed_ * 0xD1342543DE82EF95ull + (id_ << 32) + call;
    return splitmix64(s);
  }
  // out = x ∘ mask / (1 - p) (inverted dropout, as torch.nn.Dropout).
  // The forward draws the mask (and keeps it as bits, 1/32 of the input's size); the backward reuses them.
  void apply_mask(const float* x, int64_t n, std::vector<float>& out) {
    out.resize(static_cast<size_t>(n));
    const float keep = 1.0f / (1.0f - p_);
    const uint64_t key = key_;
    const uint32_t thr = threshold();
    float* o = out.data();
    const bool draw = !drawn_;
    if (draw) keep_bits_.assign(static_cast<size_t>((n + 63) / 64), 0);
    uint64_t* bits = keep_bits_.data();
    // Chunks of whole 64-element words, so that no two threads write one word.
    parallel_for((n + 63) / 64, balanced_chunk((n + 63) / 64, 128, 2), [&](int64_t w0, int64_t w1) {
      for (int64_t w = w0; w < w1; ++w) {
        uint64_t word = draw ? 0 : bits[w];
        for (int64_t i = w * 64; i < std::min(n, (w + 1) * 64); ++i) {
          if (draw && !dropped(key, static_cast<uint64_t>(i), thr)) word |= uint64_t{1} << (i & 63);
          o[i] = word >> (i & 63) & 1 ? x[i] * keep : 0.0f;
        }
        if (draw) bits[w] = word;
      }
    });
    drawn_ = true;
  }

  Param *a_, *b_;
  float scale_, p_;
  uint64_t seed_, id_;
  uint64_t calls_ = 0, key_ = 0;
  bool masked_ = false, drawn_ = false;
  std::vector<uint64_t> keep_bits_;
  std::vector<float> ut_, xd_;
};

std::vector<std::string> resolve_lora_targets(TrainableModel& model, const std::vector<std::string>& names,
                                              const std::string& what) {
  std::vector<std::string> known;
  for (const auto& li : model.linear_layers())
    if (std::find(known.begin(), known.end(), li.short_name) == known.end()) known.push_back(li.short_name);
  if (names.empty()) return known;
  const bool v3 = model.config().family != Family::Exaone4;
  std::vector<std::string> out;
  for (const std::string& n : names) {
    std::string m = n;
    if (v3 && exaone3_name(n)) m = exaone3_name(n);
    if (std::find(known.begin(), known.end(), m) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ",") + k;
      fail(what + ": unknown LoRA target module '" + n + "' (this model's linear layers: " + list + ")");
    }
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  return out;
}

Lora::Lora(TrainableModel& model, const LoraConfig& cfg) : model_(model), cfg_(cfg) {
  if (cfg_.rank <= 0) fail("lora: rank must be positive");
  if (!(cfg_.alpha > 0)) fail("lora: alpha must be positive");
  if (!(cfg_.dropout >= 0 && cfg_.dropout < 1)) fail("lora: dropout must be in [0, 1)");
  cfg_.targets = resolve_lora_targets(model, cfg_.targets, "lora");
  model_.freeze_all();
  std::vector<TrainableModel::LinearInfo> lins;
  for (auto& li : model_.linear_layers())
    if (std::find(cfg_.targets.begin(), cfg_.targets.end(), li.short_name) != cfg_.targets.end()) lins.push_back(li);
  const double scale = cfg_.rslora ? cfg_.alpha / std::sqrt(static_cast<double>(cfg_.rank))
                                   : cfg_.alpha / static_cast<double>(cfg_.rank);
  params_.reserve(2 * lins.size());
  for (size_t i = 0; i < lins.size(); ++i) {
    const TrainableModel::LinearInfo& li = lins[i];
    const int64_t out = li.weight->shape[0], in = li.weight->shape[1];
    Param a, b;
    a.name = li.module + ".lora_A.weight";
    a.shape = {cfg_.rank, in};
    a.w.resize(static_cast<size_t>(cfg_.rank * in));
    // peft: kaiming_uniform_(A, a=sqrt(5)) -> U(-1/sqrt(in), 1/sqrt(in)). One stream per adapted layer.
    Rng rng(cfg_.seed, 0x10A0000000ull + i);
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    for (float& v : a.w) v = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
    b.name = li.module + ".lora_B.weight";
    b.shape = {out, cfg_.rank};
    b.w.assign(static_cast<size_t>(out * cfg_.rank), 0.0f);
    a.g.assign(a.w.size(), 0.0f);
    b.g.assign(b.w.size(), 0.0f);
    params_.push_back(std::move(a));
    params_.push_back(std::move(b));
    attach(li.module, cfg_.rank, scale);
  }
  attached_ = true;
}

Lora::Lora(TrainableModel& model, const LoraAdapter& adapter, double dropout, uint64_t seed) : model_(model) {
  const std::string src = adapter.source.empty() ? "lora adapter" : adapter.source;
  cfg_.rank = adapter.rank;
  cfg_.alpha = adapter.alpha;
  cfg_.rslora = adapter.use_rslora;
  cfg_.dropout = dropout;
  cfg_.seed = seed;
  model_.freeze_all();
  std::vector<TrainableModel::LinearInfo> lins = model_.linear_layers();
  params_.reserve(2 * adapter.pairs.size());
  for (const LoraPair& p : adapter.pairs) {
    auto it = std::find_if(lins.begin(), lins.end(), [&](const auto& li) { return li.module == p.target; });
    if (it == lins.end()) fail(src + ": target " + p.target + " is not a linear layer of this model");
    if (it->weight->shape[0] != p.out || it->weight->shape[1] != p.in)
      fail(src + ": " + p.target + " is [" + std::to_string(p.out) + ", " + std::to_string(p.in) +
           "] in the adapter but [" + std::to_string(it->weight->shape[0]) + ", " + std::to_string(it->weight->shape[1]) +
           "] in the model");
    Param a, b;
    a.name = p.target + ".lora_A.weight";
    a.shape = {p.rank, p.in};
    a.w = p.a;
    b.name = p.target + ".lora_B.weight";
    b.shape = {p.out, p.rank};
    b.w = p.b;
    a.g.assign(a.w.size(), 0.0f);
    b.g.assign(b.w.size(), 0.0f);
    params_.push_back(std::move(a));
    params_.push_back(std::move(b));
    attach(p.target, p.rank, adapter.scale_of(p));
    if (std::find(cfg_.targets.begin(), cfg_.targets.end(), it->short_name) == cfg_.targets.end())
      cfg_.targets.push_back(it->short_name);
  }
  attached_ = true;
}

void Lora::attach(const std::string& module, int64_t /*rank*/, double scale) {
  Param* a = &params_[params_.size() - 2];
  Param* b = &params_[params_.size() - 1];
  linears_.push_back(std::make_unique<LoraLinear>(a, b, scale, static_cast<float>(cfg_.dropout), cfg_.seed,
                                                  static_cast<uint64_t>(linears_.size())));
  model_.set_adapter(module, linears_.back().get());
}

Lora::~Lora() {
  if (!attached_) return;
  for (size_t i = 0; i < linears_.size(); ++i) {
    const std::string& n = params_[2 * i].name;
    model_.set_adapter(n.substr(0, n.size() - std::string(".lora_A.weight").size()), nullptr);
  }
}

void Lora::set_dropout_call(uint64_t call) {
  for (auto& l : linears_) l->set_call(call);
}

int64_t Lora::parameter_count() const {
  int64_t n = 0;
  for (const Param& p : params_) n += p.numel();
  return n;
}

LoraAdapter Lora::adapter(const std::string& base_model) const {
  LoraAdapter out;
  out.rank = cfg_.rank;
  out.alpha = cfg_.alpha;
  out.use_rslora = cfg_.rslora;
  out.dropout = cfg_.dropout;
  out.target_modules = cfg_.targets;
  out.base_model = base_model;
  for (size_t i = 0; i < linears_.size(); ++i) {
    const Param& a = params_[2 * i];
    const Param& b = params_[2 * i + 1];
    LoraPair p;
    p.target = a.name.substr(0, a.name.size() - std::string(".lora_A.weight").size());
    p.rank = a.shape[0];
    p.in = a.shape[1];
    p.out = b.shape[0];
    p.a = a.w;
    p.b = b.w;
    // The adapter's scale as alpha for this pair's rank (the same as the config's unless read from a
    // file with a rank_pattern / alpha_pattern).
    const double s = linears_[i]->scale();
    p.alpha = cfg_.rslora ? s * std::sqrt(static_cast<double>(p.rank)) : s * static_cast<double>(p.rank);
    if (p.rank == cfg_.rank) p.alpha = cfg_.alpha;
    out.pairs.push_back(std::move(p));
  }
  return out;
}

void Lora::merge_into_base() {
  if (model_.has_stored_weights())
    fail("lora: cannot merge into a base kept quantized (GGUF): merge needs a float base (a Hugging Face folder)");
  if (!attached_) return;
  std::vector<TrainableModel::LinearInfo> lins = model_.linear_layers();
  for (size_t i = 0; i < linears_.size(); ++i) {
    const Param& a = params_[2 * i];
    const Param& b = params_[2 * i + 1];
    const std::string module = a.name.substr(0, a.name.size() - std::string(".lora_A.weight").size());
    auto it = std::find_if(lins.begin(), lins.end(), [&](const auto& li) { return li.module == module; });
    Param& w = *it->weight;
    const int64_t r = a.shape[0], in = a.shape[1], out = b.shape[0];
    // peft: W += (B @ A) * scaling.
    std::vector<float> ba(static_cast<size_t>(out * in));
    gemm_train(out, in, r, {b.w.data(), r, false}, {a.w.data(), in, false}, ba.data(), in, false);
    const float s = linears_[i]->scale();
    for (size_t j = 0; j < ba.size(); ++j) w.w[j] += ba[j] * s;
    model_.set_adapter(module, nullptr);
  }
  attached_ = false;
}

}  // namespace exaone::train

#include "train/model.h"

#include <algorithm>
#include <cmath>

#include "kernels/matmul.h"
#include "loaders/gguf.h"
#include "loaders/safetensors.h"
#include "loaders/weight_store.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "train/ops.h"
#include "train/rng.h"
#include "util/error.h"
#include "util/parallel.h"

namespace exaone::train {

TrainableModel::TrainableModel(ModelConfig cfg) : TrainableModel(std::move(cfg), true) {}

TrainableModel::~TrainableModel() = default;

TrainableModel::TrainableModel(ModelConfig cfg, bool alloc_matrices) : cfg_(std::move(cfg)), alloc_matrices_(alloc_matrices) {
  const ModelConfig& c = cfg_;
  if (c.family == Family::ExaoneMoe || c.n_experts > 0) fail("train: MoE models (K-EXAONE) are not trainable yet");
  if (c.hidden <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.head_dim <= 0 ||
      c.intermediate <= 0 || c.vocab_size <= 0)
    fail("train: model config has a non-positive size");
  if (c.n_heads % c.n_kv_heads != 0) fail("train: num_attention_heads must be a multiple of num_key_value_heads");
  if (c.head_dim % 2 != 0) fail("train: head_dim must be even (RoPE pairs)");
  const int64_t H = c.hidden, hd = c.head_dim, I = c.intermediate;
  const bool v4 = c.family == Family::Exaone4;
  params_.reserve(static_cast<size_t>(3 + 11 * c.n_layers));
  embed_ = &add_param(v4 ? "model.embed_tokens.weight" : "transformer.wte.weight", {c.vocab_size, H}, true);
  layers_.resize(static_cast<size_t>(c.n_layers));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    Layer& L = layers_[l];
    if (v4) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      L.wq.w = &add_param(p + "self_attn.q_proj.weight", {c.q_dim(), H}, true);
      L.wk.w = &add_param(p + "self_attn.k_proj.weight", {c.kv_dim(), H}, true);
      L.wv.w = &add_param(p + "self_attn.v_proj.weight", {c.kv_dim(), H}, true);
      L.wo.w = &add_param(p + "self_attn.o_proj.weight", {H, c.q_dim()}, true);
      L.q_norm = &add_param(p + "self_attn.q_norm.weight", {hd}, false);
      L.k_norm = &add_param(p + "self_attn.k_norm.weight", {hd}, false);
      L.attn_post = &add_param(p + "post_attention_layernorm.weight", {H}, false);
      L.w_gate.w = &add_param(p + "mlp.gate_proj.weight", {I, H}, true);
      L.w_up.w = &add_param(p + "mlp.up_proj.weight", {I, H}, true);
      L.w_down.w = &add_param(p + "mlp.down_proj.weight", {H, I}, true);
      L.mlp_post = &add_param(p + "post_feedforward_layernorm.weight", {H}, false);
    } else {
      const std::string p = "transformer.h." + std::to_string(l) + ".";
      L.attn_pre = &add_param(p + "ln_1.weight", {H}, false);
      L.wq.w = &add_param(p + "attn.attention.q_proj.weight", {c.q_dim(), H}, true);
      L.wk.w = &add_param(p + "attn.attention.k_proj.weight", {c.kv_dim(), H}, true);
      L.wv.w = &add_param(p + "attn.attention.v_proj.weight", {c.kv_dim(), H}, true);
      L.wo.w = &add_param(p + "attn.attention.out_proj.weight", {H, c.q_dim()}, true);
      L.mlp_pre = &add_param(p + "ln_2.weight", {H}, false);
      L.w_gate.w = &add_param(p + "mlp.c_fc_0.weight", {I, H}, true);
      L.w_up.w = &add_param(p + "mlp.c_fc_1.weight", {I, H}, true);
      L.w_down.w = &add_param(p + "mlp.c_proj.weight", {H, I}, true);
    }
  }
  final_norm_ = &add_param(v4 ? "model.norm.weight" : "transformer.ln_f.weight", {H}, false);
  if (!c.tie_embeddings) lm_head_ = &add_param("lm_head.weight", {c.vocab_size, H}, true);
  inv_freq_ = rope_inv_freq(c.rope, hd);
  saved_.resize(static_cast<size_t>(c.n_layers));
}

Param& TrainableModel::add_param(const std::string& name, std::vector<int64_t> shape, bool decay) {
  if (params_.size() == params_.capacity()) fail("train: parameter table full (internal)");
  Param p;
  p.name = name;
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  p.shape = std::move(shape);
  if (alloc_matrices_ || p.shape.size() == 1) {
    p.w.assign(static_cast<size_t>(n), p.shape.size() == 1 ? 1.0f : 0.0f);
    p.g.assign(static_cast<size_t>(n), 0.0f);
  }
  p.decay = decay;
  params_.push_back(std::move(p));
  return params_.back();
}

Param* TrainableModel::find(const std::string& name) {
  for (Param& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

int64_t TrainableModel::parameter_count() const {
  int64_t n = 0;
  for (const Param& p : params_) n += p.numel();
  return n;
}

std::unique_ptr<TrainableModel> TrainableModel::load(const std::string& path) {
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) {
    // Matrices stay in the mapped file in their storage type; only the 1-D norm weights are widened.
    auto store = std::make_unique<WeightStore>();
    ModelConfig c = gguf_model_config(load_gguf_checkpoint(path, *store));
    c.validate(path);
    if (!c.tie_embeddings && !store->find("lm_head.weight")) c.tie_embeddings = true;
    std::unique_ptr<TrainableModel> m(new TrainableModel(c, false));
    for (Param& p : m->params_) {
      const TensorView& t = store->require(p.name, p.shape);
      p.trainable = false;
      p.g.clear();
      if (p.shape.size() == 1) {
        dequantize_row(MatrixRef{t.dtype, t.data, 1, p.shape[0]}, 0, p.w.data());
      } else {
        p.stored = t.data;
        p.stored_type = t.dtype;
      }
    }
    m->store_ = std::move(store);
    return m;
  }
  ModelConfig c = load_model_config(path);
  WeightStore store;
  load_safetensors_checkpoint(path, store);
  // The inference loader treats a missing lm_head as tied; so does training.
  if (!c.tie_embeddings && !store.find("lm_head.weight")) c.tie_embeddings = true;
  auto m = std::make_unique<TrainableModel>(c);
  for (Param& p : m->params_) {
    const TensorView& t = store.require(p.name, p.shape);
    const int64_t cols = p.shape.back(), rows = p.numel() / cols;
    const MatrixRef ref{t.dtype, t.data, rows, cols};
    for (int64_t r = 0; r < rows; ++r) dequantize_row(ref, r, p.w.data() + r * cols);
  }
  return m;
}

void TrainableModel::init_random(uint64_t seed, float std) {
  const float resid_std = std / std::sqrt(2.0f * static_cast<float>(cfg_.n_layers));
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = params_[i];
    if (p.shape.size() == 1) {
      std::fill(p.w.begin(), p.w.end(), 1.0f);
      continue;
    }
    bool resid = false;
    for (const Layer& L : layers_) resid |= (&p == L.wo.w || &p == L.w_down.w);
    // One stream per parameter (seed, index): the values of one tensor do not depend on the others' sizes.
    Rng rng(seed, i);
    const float s = resid ? resid_std : std;
    for (float& v : p.w) v = static_cast<float>(rng.normal()) * s;
  }
}

void TrainableModel::zero_grad() {
  for (Param& p : params_) std::fill(p.g.begin(), p.g.end(), 0.0f);
}

void TrainableModel::freeze_all() {
  for (Param& p : params_) {
    p.trainable = false;
    std::vector<float>().swap(p.g);
  }
}

bool TrainableModel::has_stored_weights() const {
  for (const Param& p : params_)
    if (p.stored) return true;
  return false;
}

std::vector<TrainableModel::LinearInfo> TrainableModel::linear_layers() {
  std::vector<LinearInfo> out;
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& L = layers_[l];
    for (Linear* lin : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
      const std::string& n = lin->w->name;  // "<module>.weight"
      const std::string module = n.substr(0, n.size() - 7);
      out.push_back({module, module.substr(module.rfind('.') + 1), lin->w, static_cast<int64_t>(l)});
    }
  }
  return out;
}

void TrainableModel::set_adapter(const std::string& module, LinearAdapter* adapter) {
  for (Layer& L : layers_)
    for (Linear* lin : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      if (lin->w->name == module + ".weight") {
        lin->adapter = adapter;
        return;
      }
  fail("train: no linear layer named " + module);
}

int64_t TrainableModel::weight_block_rows(const Param& p) const {
  if (!p.stored) return p.shape[0];
  // About 16 MB of float scratch, in multiples of the GEMM's depth block (so that dx sums the same
  // blocks in the same order as one product over all rows would).
  const int64_t rows = p.shape[0], cols = p.shape[1];
  const int64_t block = std::max<int64_t>(kGemmDepth, (int64_t{4} << 20) / cols / kGemmDepth * kGemmDepth);
  return std::min(rows, block);
}

const float* TrainableModel::weight_rows(const Param& p, int64_t r0, int64_t r1) {
  if (!p.stored) return p.w.data() + r0 * p.shape[1];
  const int64_t cols = p.shape[1];
  if (scratch_.size() < static_cast<size_t>((r1 - r0) * cols)) scratch_.resize(static_cast<size_t>((r1 - r0) * cols));
  const MatrixRef ref{p.stored_type, p.stored, p.shape[0], cols};
  float* out = scratch_.data();
  parallel_for(r1 - r0, balanced_chunk(r1 - r0, 8, 4), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) dequantize_row(ref, r0 + r, out + r * cols);
  });
  return out;
}

void TrainableModel::linear_fwd(const Linear& L, const float* x, int64_t T, float* y, bool training) {
  const Param& p = *L.w;
  const int64_t N = p.shape[0], K = p.shape[1];
  if (!p.stored) {
    linear_forward(x, T, K, p.w.data(), N, y);
  } else {
    const int64_t block = weight_block_rows(p);
    for (int64_t r0 = 0; r0 < N; r0 += block) {
      const int64_t r1 = std::min(N, r0 + block);
      gemm_train(T, r1 - r0, K, {x, K, false}, {weight_rows(p, r0, r1), K, true}, y + r0, N, false, matmul_precision());
    }
  }
  if (L.adapter) L.adapter->forward(x, T, y, training);
}

void TrainableModel::linear_bwd(const Linear& L, const float* dy, const float* x, int64_t T, float* dx,
                                bool accumulate) {
  Param& p = *L.w;
  const int64_t N = p.shape[0], K = p.shape[1];
  if (!p.stored) {
    linear_backward(dy, x, p.w.data(), T, K, N, dx, grad(&p), accumulate);
  } else {
    // Frozen: only dx = dy·W, one block of dequantized rows at a time.
    const int64_t block = weight_block_rows(p);
    for (int64_t r0 = 0; r0 < N; r0 += block) {
      const int64_t r1 = std::min(N, r0 + block);
      gemm_train(T, K, r1 - r0, {dy + r0, N, false}, {weight_rows(p, r0, r1), K, false}, dx, K, accumulate || r0 > 0,
                 matmul_precision());
    }
  }
  if (L.adapter) L.adapter->backward(dy, x, T, dx);
}

double TrainableModel::flops_per_token(int64_t T) const {
  const ModelConfig& c = cfg_;
  const double matmul_params = static_cast<double>(c.hidden) *
                                   (2.0 * c.q_dim() + 2.0 * c.kv_dim() + 3.0 * c.intermediate) * c.n_layers +
                               static_cast<double>(c.vocab_size) * c.hidden;
  double attn = 0;  // QKᵀ and PV: 2 × 2 FLOPs per (query, key, channel), keys visible on average
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const double avg_keys = c.layer_sliding[l] && c.sliding_window > 0 && c.sliding_window < T
                                ? static_cast<double>(c.sliding_window)
                                : (static_cast<double>(T) + 1) / 2;
    attn += 4.0 * avg_keys * static_cast<double>(c.q_dim());
  }
  return 3.0 * (2.0 * matmul_params + attn);
}

double TrainableModel::forward(const Batch& batch, std::vector<float>* logits) {
  return run(batch, false, 1.0f, logits);
}

double TrainableModel::forward_backward(const Batch& batch, float grad_scale) {
  if (!batch.targets) fail("train: forward_backward needs targets");
  return run(batch, true, grad_scale, nullptr);
}

void TrainableModel::layer_forward(int64_t l, int64_t B, int64_t T, const float* x_in, float* x_out, bool training) {
  const ModelConfig& c = cfg_;
  const Layer& L = layers_[l];
  Saved& s = saved_[l];
  const int64_t N = B * T, H = c.hidden, hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim(), I = c.intermediate;
  const float eps = static_cast<float>(c.rms_eps);
  auto size = [](std::vector<float>& v, int64_t n) { v.resize(static_cast<size_t>(n)); };
  size(s.x_in, N * H);
  std::copy_n(x_in, N * H, s.x_in.data());

  // ---- attention block ----
  const float* a_in = s.x_in.data();
  if (L.attn_pre) {
    size(s.h1, N * H);
    size(s.rstd1, N);
    rmsnorm_forward(s.x_in.data(), L.attn_pre->w.data(), eps, N, H, s.h1.data(), s.rstd1.data());
    a_in = s.h1.data();
  }
  size(s.q, N * qd);
  size(s.k, N * kvd);
  size(s.v, N * kvd);
  if (L.q_norm) {
    size(s.q_raw, N * qd);
    size(s.k_raw, N * kvd);
    size(s.rstd_q, N * c.n_heads);
    size(s.rstd_k, N * c.n_kv_heads);
    linear_fwd(L.wq, a_in, N, s.q_raw.data(), training);
    linear_fwd(L.wk, a_in, N, s.k_raw.data(), training);
    rmsnorm_forward(s.q_raw.data(), L.q_norm->w.data(), eps, N * c.n_heads, hd, s.q.data(), s.rstd_q.data());
    rmsnorm_forward(s.k_raw.data(), L.k_norm->w.data(), eps, N * c.n_kv_heads, hd, s.k.data(), s.rstd_k.data());
  } else {
    linear_fwd(L.wq, a_in, N, s.q.data(), training);
    linear_fwd(L.wk, a_in, N, s.k.data(), training);
  }
  linear_fwd(L.wv, a_in, N, s.v.data(), training);
  if (c.layer_rope[l]) {
    rope_forward(s.q.data(), N, c.n_heads, hd, pos_.data(), inv_freq_.data());
    rope_forward(s.k.data(), N, c.n_kv_heads, hd, pos_.data(), inv_freq_.data());
  }
  const AttnDims dims{B, T, c.n_heads, c.n_kv_heads, hd, c.layer_sliding[l] ? c.sliding_window : 0,
                      1.0f / std::sqrt(static_cast<float>(hd))};
  size(s.att, N * qd);
  size(s.lse, B * c.n_heads * T);
  attention_forward(s.q.data(), s.k.data(), s.v.data(), dims, s.att.data(), s.lse.data());
  size(s.o, N * H);
  linear_fwd(L.wo, s.att.data(), N, s.o.data(), training);
  size(s.x_mid, N * H);
  if (L.attn_post) {
    size(s.rstd_o, N);
    rmsnorm_forward(s.o.data(), L.attn_post->w.data(), eps, N, H, s.x_mid.data(), s.rstd_o.data());
  } else {
    std::copy_n(s.o.data(), N * H, s.x_mid.data());
  }
  add_into(s.x_mid.data(), s.x_in.data(), N * H);  // residual

  // ---- MLP block ----
  const float* m_in = s.x_mid.data();
  if (L.mlp_pre) {
    size(s.h2, N * H);
    size(s.rstd2, N);
    rmsnorm_forward(s.x_mid.data(), L.mlp_pre->w.data(), eps, N, H, s.h2.data(), s.rstd2.data());
    m_in = s.h2.data();
  }
  size(s.gate, N * I);
  size(s.up, N * I);
  size(s.act, N * I);
  linear_fwd(L.w_gate, m_in, N, s.gate.data(), training);
  linear_fwd(L.w_up, m_in, N, s.up.data(), training);
  swiglu_forward(s.gate.data(), s.up.data(), N * I, s.act.data());
  size(s.m, N * H);
  linear_fwd(L.w_down, s.act.data(), N, s.m.data(), training);
  if (L.mlp_post) {
    size(s.rstd_m, N);
    rmsnorm_forward(s.m.data(), L.mlp_post->w.data(), eps, N, H, x_out, s.rstd_m.data());
  } else {
    std::copy_n(s.m.data(), N * H, x_out);
  }
  add_into(x_out, s.x_mid.data(), N * H);
}

void TrainableModel::layer_backward(int64_t l, int64_t B, int64_t T, float* dx) {
  // dx holds d(layer output) on entry and d(layer input) on return.
  const ModelConfig& c = cfg_;
  const Layer& L = layers_[l];
  Saved& s = saved_[l];
  const int64_t N = B * T, H = c.hidden, hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim(), I = c.intermediate;
  std::vector<float> dbranch(static_cast<size_t>(N * H)), din(static_cast<size_t>(N * H));

  // ---- MLP block: x_out = x_mid + post(m); dx passes to x_mid unchanged (residual) ----
  const float* dm = dx;
  if (L.mlp_post) {
    rmsnorm_backward(dx, s.m.data(), L.mlp_post->w.data(), s.rstd_m.data(), N, H, dbranch.data(), grad(L.mlp_post));
    dm = dbranch.data();
  }
  std::vector<float> dact(static_cast<size_t>(N * I)), dgate(static_cast<size_t>(N * I)), dup(static_cast<size_t>(N * I));
  linear_bwd(L.w_down, dm, s.act.data(), N, dact.data(), false);
  swiglu_backward(dact.data(), s.gate.data(), s.up.data(), N * I, dgate.data(), dup.data());
  const float* m_in = L.mlp_pre ? s.h2.data() : s.x_mid.data();
  linear_bwd(L.w_gate, dgate.data(), m_in, N, din.data(), false);
  linear_bwd(L.w_up, dup.data(), m_in, N, din.data(), true);
  if (L.mlp_pre)
    rmsnorm_backward(din.data(), s.x_mid.data(), L.mlp_pre->w.data(), s.rstd2.data(), N, H, dx, grad(L.mlp_pre), true);
  else
    add_into(dx, din.data(), N * H);

  // ---- attention block: x_mid = x_in + post(o) ----
  const float* d_o = dx;
  if (L.attn_post) {
    rmsnorm_backward(dx, s.o.data(), L.attn_post->w.data(), s.rstd_o.data(), N, H, dbranch.data(),
                     grad(L.attn_post));
    d_o = dbranch.data();
  }
  std::vector<float> datt(static_cast<size_t>(N * qd)), dq(static_cast<size_t>(N * qd));
  std::vector<float> dk(static_cast<size_t>(N * kvd)), dv(static_cast<size_t>(N * kvd));
  linear_bwd(L.wo, d_o, s.att.data(), N, datt.data(), false);
  const AttnDims dims{B, T, c.n_heads, c.n_kv_heads, hd, c.layer_sliding[l] ? c.sliding_window : 0,
                      1.0f / std::sqrt(static_cast<float>(hd))};
  attention_backward(datt.data(), s.q.data(), s.k.data(), s.v.data(), s.att.data(), s.lse.data(), dims, dq.data(),
                     dk.data(), dv.data());
  if (c.layer_rope[l]) {
    rope_backward(dq.data(), N, c.n_heads, hd, pos_.data(), inv_freq_.data());
    rope_backward(dk.data(), N, c.n_kv_heads, hd, pos_.data(), inv_freq_.data());
  }
  if (L.q_norm) {
    std::vector<float> dq_raw(dq.size()), dk_raw(dk.size());
    rmsnorm_backward(dq.data(), s.q_raw.data(), L.q_norm->w.data(), s.rstd_q.data(), N * c.n_heads, hd, dq_raw.data(),
                     grad(L.q_norm));
    rmsnorm_backward(dk.data(), s.k_raw.data(), L.k_norm->w.data(), s.rstd_k.data(), N * c.n_kv_heads, hd,
                     dk_raw.data(), grad(L.k_norm));
    dq.swap(dq_raw);
    dk.swap(dk_raw);
  }
  const float* a_in = L.attn_pre ? s.h1.data() : s.x_in.data();
  linear_bwd(L.wq, dq.data(), a_in, N, din.data(), false);
  linear_bwd(L.wk, dk.data(), a_in, N, din.data(), true);
  linear_bwd(L.wv, dv.data(), a_in, N, din.data(), true);
  if (L.attn_pre)
    rmsnorm_backward(din.data(), s.x_in.data(), L.attn_pre->w.data(), s.rstd1.data(), N, H, dx, grad(L.attn_pre), true);
  else
    add_into(dx, din.data(), N * H);
}

double TrainableModel::run(const Batch& batch, bool backward, float grad_scale, std::vector<float>* logits_out) {
  const ModelConfig& c = cfg_;
  const int64_t B = batch.B, T = batch.T, N = B * T, H = c.hidden, V = c.vocab_size;
  if (B <= 0 || T <= 0) fail("train: empty batch");
  if (T > c.max_position) fail("train: sequence length " + std::to_string(T) + " exceeds max_position_embeddings " +
                               std::to_string(c.max_position));
  for (int64_t r = 0; r < N; ++r) {
    if (batch.tokens[r] < 0 || batch.tokens[r] >= V) fail("train: token id " + std::to_string(batch.tokens[r]) + " out of range");
    if (batch.targets && batch.targets[r] >= V) fail("train: target id " + std::to_string(batch.targets[r]) + " out of range");
  }
  pos_.resize(static_cast<size_t>(N));
  for (int64_t r = 0; r < N; ++r) pos_[r] = static_cast<int32_t>(r % T);

  std::vector<float> x(static_cast<size_t>(N * H)), y(static_cast<size_t>(N * H));
  if (embed_->stored) {
    const MatrixRef ref{embed_->stored_type, embed_->stored, V, H};
    for (int64_t r = 0; r < N; ++r) dequantize_row(ref, batch.tokens[r], x.data() + r * H);
  } else {
    embedding_forward(batch.tokens, N, embed_->w.data(), H, x.data());
  }
  for (int64_t l = 0; l < c.n_layers; ++l) {
    layer_forward(l, B, T, x.data(), y.data(), backward);
    x.swap(y);
  }
  x_final_ = std::move(x);
  hf_.resize(static_cast<size_t>(N * H));
  rstd_f_.resize(static_cast<size_t>(N));
  const float eps = static_cast<float>(c.rms_eps);
  rmsnorm_forward(x_final_.data(), final_norm_->w.data(), eps, N, H, hf_.data(), rstd_f_.data());
  const Linear head{lm_head_ ? lm_head_ : embed_, nullptr};
  if (logits_out) {
    logits_out->resize(static_cast<size_t>(N * V));
    linear_fwd(head, hf_.data(), N, logits_out->data(), false);
  }
  if (!batch.targets) return 0.0;

  int64_t counted = 0;
  for (int64_t r = 0; r < N; ++r) counted += batch.targets[r] >= 0;
  if (counted == 0) fail("train: batch has no targets to predict");
  // Head, softmax and cross-entropy over blocks of rows: only [block, vocab] logits exist at a
  // time (vocab 102400 x thousands of tokens would be gigabytes). Mean over counted targets: each
  // row's gradient is scaled by grad_scale / counted.
  std::vector<float> dh;
  if (backward) dh.resize(static_cast<size_t>(N * H));
  double total = 0;
  for (int64_t r0 = 0; r0 < N; r0 += head_block_rows_) {
    const int64_t n = std::min(head_block_rows_, N - r0);
    logits_.resize(static_cast<size_t>(n * V));
    linear_fwd(head, hf_.data() + r0 * H, n, logits_.data(), false);
    total += cross_entropy_forward_backward(logits_.data(), batch.targets + r0, n, V,
                                            grad_scale / static_cast<float>(counted),
                                            backward ? logits_.data() : nullptr);
    if (backward) {
      linear_bwd(head, logits_.data(), hf_.data() + r0 * H, n, dh.data() + r0 * H, false);
    }
  }
  if (!backward) return total / static_cast<double>(counted);

  std::vector<float> dx(static_cast<size_t>(N * H));
  rmsnorm_backward(dh.data(), x_final_.data(), final_norm_->w.data(), rstd_f_.data(), N, H, dx.data(),
                   grad(final_norm_));
  for (int64_t l = c.n_layers - 1; l >= 0; --l) layer_backward(l, B, T, dx.data());
  if (float* g = grad(embed_)) embedding_backward(dx.data(), batch.tokens, N, H, g);
  return total / static_cast<double>(counted);
}

}  // namespace exaone::train

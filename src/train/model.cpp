#include "train/model.h"

#include <algorithm>
#include <cmath>

#include "kernels/matmul.h"
#include "loaders/safetensors.h"
#include "loaders/weight_store.h"
#include "models/model.h"
#include "train/ops.h"
#include "train/rng.h"
#include "util/error.h"

namespace exaone::train {

TrainableModel::TrainableModel(ModelConfig cfg) : cfg_(std::move(cfg)) {
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
      L.wq = &add_param(p + "self_attn.q_proj.weight", {c.q_dim(), H}, true);
      L.wk = &add_param(p + "self_attn.k_proj.weight", {c.kv_dim(), H}, true);
      L.wv = &add_param(p + "self_attn.v_proj.weight", {c.kv_dim(), H}, true);
      L.wo = &add_param(p + "self_attn.o_proj.weight", {H, c.q_dim()}, true);
      L.q_norm = &add_param(p + "self_attn.q_norm.weight", {hd}, false);
      L.k_norm = &add_param(p + "self_attn.k_norm.weight", {hd}, false);
      L.attn_post = &add_param(p + "post_attention_layernorm.weight", {H}, false);
      L.w_gate = &add_param(p + "mlp.gate_proj.weight", {I, H}, true);
      L.w_up = &add_param(p + "mlp.up_proj.weight", {I, H}, true);
      L.w_down = &add_param(p + "mlp.down_proj.weight", {H, I}, true);
      L.mlp_post = &add_param(p + "post_feedforward_layernorm.weight", {H}, false);
    } else {
      const std::string p = "transformer.h." + std::to_string(l) + ".";
      L.attn_pre = &add_param(p + "ln_1.weight", {H}, false);
      L.wq = &add_param(p + "attn.attention.q_proj.weight", {c.q_dim(), H}, true);
      L.wk = &add_param(p + "attn.attention.k_proj.weight", {c.kv_dim(), H}, true);
      L.wv = &add_param(p + "attn.attention.v_proj.weight", {c.kv_dim(), H}, true);
      L.wo = &add_param(p + "attn.attention.out_proj.weight", {H, c.q_dim()}, true);
      L.mlp_pre = &add_param(p + "ln_2.weight", {H}, false);
      L.w_gate = &add_param(p + "mlp.c_fc_0.weight", {I, H}, true);
      L.w_up = &add_param(p + "mlp.c_fc_1.weight", {I, H}, true);
      L.w_down = &add_param(p + "mlp.c_proj.weight", {H, I}, true);
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
  p.w.assign(static_cast<size_t>(n), p.shape.size() == 1 ? 1.0f : 0.0f);
  p.g.assign(static_cast<size_t>(n), 0.0f);
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
    for (const Layer& L : layers_) resid |= (&p == L.wo || &p == L.w_down);
    // One stream per parameter (seed, index): the values of one tensor do not depend on the others' sizes.
    Rng rng(seed, i);
    const float s = resid ? resid_std : std;
    for (float& v : p.w) v = static_cast<float>(rng.normal()) * s;
  }
}

void TrainableModel::zero_grad() {
  for (Param& p : params_) std::fill(p.g.begin(), p.g.end(), 0.0f);
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

void TrainableModel::layer_forward(int64_t l, int64_t B, int64_t T, const float* x_in, float* x_out) {
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
    linear_forward(a_in, N, H, L.wq->w.data(), qd, s.q_raw.data());
    linear_forward(a_in, N, H, L.wk->w.data(), kvd, s.k_raw.data());
    rmsnorm_forward(s.q_raw.data(), L.q_norm->w.data(), eps, N * c.n_heads, hd, s.q.data(), s.rstd_q.data());
    rmsnorm_forward(s.k_raw.data(), L.k_norm->w.data(), eps, N * c.n_kv_heads, hd, s.k.data(), s.rstd_k.data());
  } else {
    linear_forward(a_in, N, H, L.wq->w.data(), qd, s.q.data());
    linear_forward(a_in, N, H, L.wk->w.data(), kvd, s.k.data());
  }
  linear_forward(a_in, N, H, L.wv->w.data(), kvd, s.v.data());
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
  linear_forward(s.att.data(), N, qd, L.wo->w.data(), H, s.o.data());
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
  linear_forward(m_in, N, H, L.w_gate->w.data(), I, s.gate.data());
  linear_forward(m_in, N, H, L.w_up->w.data(), I, s.up.data());
  swiglu_forward(s.gate.data(), s.up.data(), N * I, s.act.data());
  size(s.m, N * H);
  linear_forward(s.act.data(), N, I, L.w_down->w.data(), H, s.m.data());
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
    rmsnorm_backward(dx, s.m.data(), L.mlp_post->w.data(), s.rstd_m.data(), N, H, dbranch.data(), L.mlp_post->g.data());
    dm = dbranch.data();
  }
  std::vector<float> dact(static_cast<size_t>(N * I)), dgate(static_cast<size_t>(N * I)), dup(static_cast<size_t>(N * I));
  linear_backward(dm, s.act.data(), L.w_down->w.data(), N, I, H, dact.data(), L.w_down->g.data());
  swiglu_backward(dact.data(), s.gate.data(), s.up.data(), N * I, dgate.data(), dup.data());
  const float* m_in = L.mlp_pre ? s.h2.data() : s.x_mid.data();
  linear_backward(dgate.data(), m_in, L.w_gate->w.data(), N, H, I, din.data(), L.w_gate->g.data());
  linear_backward(dup.data(), m_in, L.w_up->w.data(), N, H, I, din.data(), L.w_up->g.data(), true);
  if (L.mlp_pre)
    rmsnorm_backward(din.data(), s.x_mid.data(), L.mlp_pre->w.data(), s.rstd2.data(), N, H, dx, L.mlp_pre->g.data(), true);
  else
    add_into(dx, din.data(), N * H);

  // ---- attention block: x_mid = x_in + post(o) ----
  const float* d_o = dx;
  if (L.attn_post) {
    rmsnorm_backward(dx, s.o.data(), L.attn_post->w.data(), s.rstd_o.data(), N, H, dbranch.data(),
                     L.attn_post->g.data());
    d_o = dbranch.data();
  }
  std::vector<float> datt(static_cast<size_t>(N * qd)), dq(static_cast<size_t>(N * qd));
  std::vector<float> dk(static_cast<size_t>(N * kvd)), dv(static_cast<size_t>(N * kvd));
  linear_backward(d_o, s.att.data(), L.wo->w.data(), N, qd, H, datt.data(), L.wo->g.data());
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
                     L.q_norm->g.data());
    rmsnorm_backward(dk.data(), s.k_raw.data(), L.k_norm->w.data(), s.rstd_k.data(), N * c.n_kv_heads, hd,
                     dk_raw.data(), L.k_norm->g.data());
    dq.swap(dq_raw);
    dk.swap(dk_raw);
  }
  const float* a_in = L.attn_pre ? s.h1.data() : s.x_in.data();
  linear_backward(dq.data(), a_in, L.wq->w.data(), N, H, qd, din.data(), L.wq->g.data());
  linear_backward(dk.data(), a_in, L.wk->w.data(), N, H, kvd, din.data(), L.wk->g.data(), true);
  linear_backward(dv.data(), a_in, L.wv->w.data(), N, H, kvd, din.data(), L.wv->g.data(), true);
  if (L.attn_pre)
    rmsnorm_backward(din.data(), s.x_in.data(), L.attn_pre->w.data(), s.rstd1.data(), N, H, dx, L.attn_pre->g.data(), true);
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
  embedding_forward(batch.tokens, N, embed_->w.data(), H, x.data());
  for (int64_t l = 0; l < c.n_layers; ++l) {
    layer_forward(l, B, T, x.data(), y.data());
    x.swap(y);
  }
  x_final_ = std::move(x);
  hf_.resize(static_cast<size_t>(N * H));
  rstd_f_.resize(static_cast<size_t>(N));
  const float eps = static_cast<float>(c.rms_eps);
  rmsnorm_forward(x_final_.data(), final_norm_->w.data(), eps, N, H, hf_.data(), rstd_f_.data());
  Param& head = lm_head_ ? *lm_head_ : *embed_;
  if (logits_out) {
    logits_out->resize(static_cast<size_t>(N * V));
    linear_forward(hf_.data(), N, H, head.w.data(), V, logits_out->data());
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
    linear_forward(hf_.data() + r0 * H, n, H, head.w.data(), V, logits_.data());
    total += cross_entropy_forward_backward(logits_.data(), batch.targets + r0, n, V,
                                            grad_scale / static_cast<float>(counted),
                                            backward ? logits_.data() : nullptr);
    if (backward) {
      linear_backward(logits_.data(), hf_.data() + r0 * H, head.w.data(), n, H, V, dh.data() + r0 * H, head.g.data());
    }
  }
  if (!backward) return total / static_cast<double>(counted);

  std::vector<float> dx(static_cast<size_t>(N * H));
  rmsnorm_backward(dh.data(), x_final_.data(), final_norm_->w.data(), rstd_f_.data(), N, H, dx.data(),
                   final_norm_->g.data());
  for (int64_t l = c.n_layers - 1; l >= 0; --l) layer_backward(l, B, T, dx.data());
  embedding_backward(dx.data(), batch.tokens, N, H, embed_->g.data());
  return total / static_cast<double>(counted);
}

}  // namespace exaone::train

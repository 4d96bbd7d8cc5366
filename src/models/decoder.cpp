#include "models/decoder.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <set>

#include "kernels/attention.h"
#include "kernels/cpu_features.h"
#include "kernels/interleaved.h"
#include "kernels/ops.h"
#include "models/moe.h"
#include "util/error.h"
#include "util/parallel.h"

namespace exaone {

MatrixRef matrix(const TensorView& t) {
  if (t.shape.size() != 2) fail(t.file + ": tensor '" + t.name + "' is not a matrix: shape " + t.shape_str());
  return MatrixRef{t.dtype, t.data, t.shape[0], t.shape[1]};
}

MatrixRef stacked_matrix(const TensorView& t, int64_t index) {
  if (t.shape.size() != 3)
    fail(t.file + ": tensor '" + t.name + "' is not a stack of matrices: shape " + t.shape_str());
  const int64_t rows = t.shape[1], cols = t.shape[2];
  const auto* base = static_cast<const uint8_t*>(t.data);
  return MatrixRef{t.dtype, base + dtype_bytes_for(t.dtype, index * rows * cols), rows, cols};
}

MatrixRef row_slice(const MatrixRef& m, int64_t r0, int64_t n) {
  const auto* base = static_cast<const uint8_t*>(m.data);
  return MatrixRef{m.dtype, base + dtype_bytes_for(m.dtype, r0 * m.cols), n, m.cols};
}

std::vector<float> widen_vector(const TensorView& t) {
  MatrixRef m{t.dtype, t.data, 1, t.numel()};
  std::vector<float> out(t.numel());
  dequantize_row(m, 0, out.data());
  return out;
}

std::string Model::weight_dtype_summary() const {
  std::set<std::string> kinds;
  for (const auto& [name, t] : weights_->tensors())
    if (t.shape.size() >= 2) kinds.insert(dtype_name(t.dtype));  // matrices and stacks of them (experts)
  std::string s;
  for (const auto& k : kinds) s += (s.empty() ? "" : "+") + k;
  return s;
}

DecoderModel::DecoderModel(ModelConfig cfg, std::unique_ptr<WeightStore> store, DecoderWeights w) : w_(std::move(w)) {
  cfg_ = std::move(cfg);
  weights_ = std::move(store);
  inv_freq_ = rope_inv_freq(cfg_.rope, cfg_.head_dim);
  copy_weights_for_kernels();
}

void DecoderModel::copy_weights_for_kernels() {
  // Only the AVX2 kernels read the packed layout; EXAONE_REPACK=0 keeps the file layout (benchmarks).
  const char* env = std::getenv("EXAONE_REPACK");
  if (!cpu_features().avx2 || (env && std::string(env) == "0")) return;
  struct Copy {
    std::vector<MatrixRef*> users;  // a tied embedding and head share one copy
    bool interleave;
    size_t bytes, offset;
  };
  std::vector<Copy> copies;
  std::map<const void*, size_t> index;  // file address -> copies[i]
  auto plan = [&](MatrixRef& m) {
    if (m.rows == 0 || !m.data) return;  // absent (the dense MLP of an MoE layer)
    const bool interleave = interleavable(m.dtype, m.rows, m.cols);
    // Float matrices of a huge page or more keep their layout but move to huge pages too (decode
    // streams them whole); smaller ones stay in the file mapping.
    const bool plain = !interleave && (m.dtype == DType::F16 || m.dtype == DType::BF16 || m.dtype == DType::F32) &&
                       m.rows > 0 && m.cols > 0 && dtype_bytes_for(m.dtype, m.rows * m.cols) >= (size_t{2} << 20);
    if (!interleave && !plain) return;
    if (auto it = index.find(m.data); it != index.end()) return copies[it->second].users.push_back(&m);
    index[m.data] = copies.size();
    copies.push_back({{&m}, interleave, interleave ? interleaved_bytes(m.dtype, m.rows, m.cols)
                                                   : dtype_bytes_for(m.dtype, m.rows * m.cols), 0});
  };
  plan(w_.lm_head);
  plan(w_.embed);
  for (auto& L : w_.layers) {
    for (MatrixRef* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) plan(*m);
    // Routed experts stay in the file mapping (each token reads only its chosen few); the router and
    // the shared expert are read by every token.
    if (L.moe)
      for (MatrixRef* m : {&L.moe->router, &L.moe->shared_gate, &L.moe->shared_up, &L.moe->shared_down}) plan(*m);
  }
  if (copies.empty()) return;
  // One arena for all copies: huge pages per matrix would round each up to 2 MiB (measured: 250 MB
  // of padding resident for the 1.2B shape at Q4_K_M).
  size_t total = 0;
  for (Copy& c : copies) {
    c.offset = total;
    total += (c.bytes + 63) / 64 * 64;
  }
  weight_copies_ = allocate_huge(total);
  for (const Copy& c : copies) {
    const MatrixRef& m = *c.users[0];
    uint8_t* out = weight_copies_.get() + c.offset;
    const size_t file_bytes = dtype_bytes_for(m.dtype, m.rows * m.cols);
    if (c.interleave) {
      const int64_t groups = m.rows / kInterleaveRows;
      parallel_for(groups, balanced_chunk(groups, 16, 4), [&](int64_t g0, int64_t g1) {
        interleave_rows(m.dtype, m.data, m.cols, g0 * kInterleaveRows, g1 * kInterleaveRows, out);
      });
    } else {
      const auto* src = static_cast<const uint8_t*>(m.data);
      const int64_t chunks = static_cast<int64_t>((file_bytes + (1 << 20) - 1) >> 20);  // 1 MiB pieces
      parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
        const size_t b0 = static_cast<size_t>(c0) << 20, b1 = std::min(file_bytes, static_cast<size_t>(c1) << 20);
        std::memcpy(out + b0, src + b0, b1 - b0);
      });
    }
    weights_->release_pages(m.data, file_bytes);
    for (MatrixRef* u : c.users) (c.interleave ? u->packed : u->data) = out;
  }
}

int64_t DecoderModel::parameter_count() const {
  std::set<const void*> seen;  // tied matrices count once
  int64_t n = 0;
  auto add = [&](const MatrixRef& m) {
    if (seen.insert(m.data).second) n += m.rows * m.cols;
  };
  add(w_.embed);
  add(w_.lm_head);
  n += static_cast<int64_t>(w_.final_norm.size());
  for (const auto& L : w_.layers) {
    for (const MatrixRef* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) add(*m);
    n += static_cast<int64_t>(L.attn_pre_norm.size() + L.attn_post_norm.size() + L.mlp_pre_norm.size() +
                              L.mlp_post_norm.size() + L.q_norm.size() + L.k_norm.size());
    if (L.moe) {
      const MoeLayerWeights& m = *L.moe;
      for (const MatrixRef* r : {&m.router, &m.shared_gate, &m.shared_up, &m.shared_down}) add(*r);
      for (const auto* v : {&m.gate, &m.up, &m.down})
        for (const MatrixRef& r : *v) add(r);
      n += static_cast<int64_t>(m.expert_bias.size());
    }
  }
  return n;
}

void DecoderModel::forward(std::span<const SequenceChunk> batch, std::vector<float>& logits) {
  const ModelConfig& c = cfg_;
  const int64_t H = c.hidden, hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim(), I = c.intermediate;

  // Flatten the batch: token rows of all sequences one after another.
  int64_t N = 0, out_rows = 0;
  for (const auto& s : batch) {
    if (!s.cache) fail("forward: sequence without a KV cache");
    if (s.tokens.empty()) fail("forward: empty sequence chunk");
    if (s.cache->n_past() + static_cast<int64_t>(s.tokens.size()) > s.cache->max_context())
      fail("context length " + std::to_string(s.cache->max_context()) + " reached");
    N += static_cast<int64_t>(s.tokens.size());
    out_rows += s.all_logits ? static_cast<int64_t>(s.tokens.size()) : 1;
  }
  std::vector<int32_t> pos(N);
  std::vector<float> x(N * H), h(N * H), q(N * qd), k(N * kvd), v(N * kvd), att(N * qd), o(N * H);
  std::vector<float> gate(N * I), up(N * I);
  {
    int64_t r = 0;
    for (const auto& s : batch) {
      for (size_t i = 0; i < s.tokens.size(); ++i, ++r) {
        const int32_t id = s.tokens[i];
        if (id < 0 || id >= c.vocab_size)
          fail("token id " + std::to_string(id) + " at position " + std::to_string(i) + " is out of range (vocab_size " +
               std::to_string(c.vocab_size) + ")");
        dequantize_row(w_.embed, id, x.data() + r * H);
        pos[r] = static_cast<int32_t>(s.cache->n_past() + static_cast<int64_t>(i));
      }
    }
  }

  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const DecoderLayerWeights& L = w_.layers[l];
    // ---- attention block ----
    const float* a_in = x.data();
    if (!L.attn_pre_norm.empty()) {
      rmsnorm(x.data(), L.attn_pre_norm.data(), static_cast<float>(c.rms_eps), N, H, h.data());
      a_in = h.data();
    }
    {
      const MatrixRef ws[3] = {L.wq, L.wk, L.wv};
      float* const ys[3] = {q.data(), k.data(), v.data()};
      matmul_multi(a_in, N, ws, ys);
    }
    if (!L.q_norm.empty()) rmsnorm(q.data(), L.q_norm.data(), static_cast<float>(c.rms_eps), N * c.n_heads, hd, q.data());
    if (!L.k_norm.empty())
      rmsnorm(k.data(), L.k_norm.data(), static_cast<float>(c.rms_eps), N * c.n_kv_heads, hd, k.data());
    if (c.layer_rope[l]) {
      rope_neox(q.data(), N, c.n_heads, hd, pos.data(), inv_freq_.data());
      rope_neox(k.data(), N, c.n_kv_heads, hd, pos.data(), inv_freq_.data());
    }
    AttentionShape shape{c.n_heads, c.n_kv_heads, hd, c.layer_sliding[l] ? c.sliding_window : 0, scale};
    int64_t r = 0;
    for (const auto& s : batch) {
      const int64_t T = static_cast<int64_t>(s.tokens.size());
      s.cache->round_rows(k.data() + r * kvd, T);
      s.cache->round_rows(v.data() + r * kvd, T);
      attention(q.data() + r * qd, k.data() + r * kvd, v.data() + r * kvd, T, s.cache->past(l), shape,
                att.data() + r * qd);
      s.cache->store(l, k.data() + r * kvd, v.data() + r * kvd, T);
      r += T;
    }
    matmul(att.data(), N, L.wo, o.data());
    if (!L.attn_post_norm.empty()) rmsnorm(o.data(), L.attn_post_norm.data(), static_cast<float>(c.rms_eps), N, H, o.data());
    add_inplace(x.data(), o.data(), N * H);
    // ---- MLP block ----
    const float* m_in = x.data();
    if (!L.mlp_pre_norm.empty()) {
      rmsnorm(x.data(), L.mlp_pre_norm.data(), static_cast<float>(c.rms_eps), N, H, h.data());
      m_in = h.data();
    }
    if (L.moe) {
      moe_ffn(c, *L.moe, m_in, N, o.data());
    } else {
      const MatrixRef ws[2] = {L.w_gate, L.w_up};
      float* const ys[2] = {gate.data(), up.data()};
      matmul_multi(m_in, N, ws, ys);
      silu_mul(gate.data(), up.data(), N * I);
      matmul(gate.data(), N, L.w_down, o.data());
    }
    if (!L.mlp_post_norm.empty()) rmsnorm(o.data(), L.mlp_post_norm.data(), static_cast<float>(c.rms_eps), N, H, o.data());
    add_inplace(x.data(), o.data(), N * H);
  }
  for (const auto& s : batch) s.cache->advance(static_cast<int64_t>(s.tokens.size()));

  // Only the rows whose logits were asked for go through the final norm and the head.
  std::vector<float> sel(out_rows * H);
  {
    int64_t r = 0, o_r = 0;
    for (const auto& s : batch) {
      const int64_t T = static_cast<int64_t>(s.tokens.size());
      const int64_t first = s.all_logits ? 0 : T - 1;
      for (int64_t t = first; t < T; ++t, ++o_r)
        std::copy_n(x.data() + (r + t) * H, H, sel.data() + o_r * H);
      r += T;
    }
  }
  rmsnorm(sel.data(), w_.final_norm.data(), static_cast<float>(c.rms_eps), out_rows, H, sel.data());
  logits.resize(static_cast<size_t>(out_rows * c.vocab_size));
  matmul(sel.data(), out_rows, w_.lm_head, logits.data());
}

}  // namespace exaone

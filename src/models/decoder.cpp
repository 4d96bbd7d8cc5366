#include "models/decoder.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
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

// Whether copy_weights_for_kernels repacks the routed experts: when all weights take at most half of
// the memory available now (the copies replace the file pages they came from, but both exist while
// a matrix is copied, and the KV cache and the rest need room too). EXAONE_REPACK_EXPERTS=0 or 1
// decides instead.
bool DecoderModel::repack_routed_experts() const {
  if (const char* env = std::getenv("EXAONE_REPACK_EXPERTS")) return std::string(env) != "0";
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  while (meminfo >> key >> kb) {
    if (key == "MemAvailable:") return weights_->total_bytes() <= kb * 1024 / 2;
    meminfo.ignore(256, '\n');
  }
  return false;  // unknown: keep the mapping
}

void DecoderModel::copy_weights_for_kernels() {
  // The packed layout serves the AVX2 and AVX-512 VNNI kernels (both need AVX2); EXAONE_REPACK=0 keeps the file
  // layout (benchmarks).
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
  const bool experts = repack_routed_experts();
  for (auto& L : w_.layers) {
    for (MatrixRef* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) plan(*m);
    if (!L.moe) continue;
    // The router and the shared expert are read by every token.
    for (MatrixRef* m : {&L.moe->router, &L.moe->shared_gate, &L.moe->shared_up, &L.moe->shared_down}) plan(*m);
    // Routed experts too when the model fits in memory (the packed kernels then serve them as they
    // serve the dense matrices); otherwise they stay in the file mapping, so a model larger than RAM
    // still runs, paging in only the experts its tokens choose.
    if (experts)
      for (auto* v : {&L.moe->gate, &L.moe->up, &L.moe->down})
        for (MatrixRef& m : *v) plan(m);
  }
  if (w_.mtp) {
    MtpWeights& M = *w_.mtp;
    for (MatrixRef* m : {&M.fc, &M.layer.wq, &M.layer.wk, &M.layer.wv, &M.layer.wo, &M.layer.w_gate, &M.layer.w_up,
                         &M.layer.w_down})
      plan(*m);
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

struct DecoderModel::Scratch {
  std::vector<float> h, q, k, v, att, o, gate, up;
  std::vector<float> lora_t, lora_tj, lora_y;  // LoRA: A·x of a group, one matrix's columns of it, B·(A·x)
  Scratch(const ModelConfig& c, int64_t N)
      : h(N * c.hidden), q(N * c.q_dim()), k(N * c.kv_dim()), v(N * c.kv_dim()), att(N * c.q_dim()),
        o(N * c.hidden), gate(N * c.intermediate), up(N * c.intermediate) {}
};

void DecoderModel::LayerLora::rebuild_groups() {
  auto cat = [&](std::initializer_list<int> ids) {
    std::vector<float> out;
    for (int i : ids) out.insert(out.end(), slot[i].a.begin(), slot[i].a.end());
    return out;
  };
  a_qkv = cat({kLoraQ, kLoraK, kLoraV});
  a_gate_up = cat({kLoraGate, kLoraUp});
}

void DecoderModel::apply_lora(const LayerLora& L, std::initializer_list<int> slots, const std::vector<float>* a_cat,
                              const float* x, int64_t N, int64_t in, std::initializer_list<float*> ys, Scratch& s) {
  int64_t R = 0;
  for (int i : slots) R += L.slot[i].rank;
  if (R == 0) return;
  const LoraStack* single = nullptr;
  if (!a_cat)
    for (int i : slots) single = &L.slot[i];
  const float* a = a_cat ? a_cat->data() : single->a.data();
  // t = x · Aᵀ for every stack of the group at once: [N, R].
  if (s.lora_t.size() < static_cast<size_t>(N * R)) s.lora_t.resize(static_cast<size_t>(N * R));
  matmul(x, N, MatrixRef{DType::F32, a, R, in}, s.lora_t.data());
  // y += t_j · B_jᵀ per matrix (the float GEMM kernels; t_j is stack j's columns of t).
  int64_t off = 0;
  auto y_it = ys.begin();
  for (int i : slots) {
    const LoraStack& st = L.slot[i];
    float* y = *y_it++;
    if (st.rank == 0) continue;
    const int64_t out = static_cast<int64_t>(st.b.size()) / st.rank;
    const float* tj = s.lora_t.data() + off;
    if (R != st.rank) {  // gather the stack's columns
      if (s.lora_tj.size() < static_cast<size_t>(N * st.rank)) s.lora_tj.resize(static_cast<size_t>(N * st.rank));
      for (int64_t n = 0; n < N; ++n) std::copy_n(s.lora_t.data() + n * R + off, st.rank, s.lora_tj.data() + n * st.rank);
      tj = s.lora_tj.data();
    }
    if (s.lora_y.size() < static_cast<size_t>(N * out)) s.lora_y.resize(static_cast<size_t>(N * out));
    matmul(tj, N, MatrixRef{DType::F32, st.b.data(), out, st.rank}, s.lora_y.data());
    add_inplace(y, s.lora_y.data(), N * out);
    off += st.rank;
  }
}

void DecoderModel::run_layer(const DecoderLayerWeights& L, int64_t cache_layer, bool rope, int64_t window,
                             std::span<KVCache* const> caches, std::span<const int64_t> rows, const int32_t* pos,
                             float* x, int64_t N, Scratch& s, const LayerLora* lora) const {
  const ModelConfig& c = cfg_;
  const int64_t H = c.hidden, hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim(), I = c.intermediate;
  const float eps = static_cast<float>(c.rms_eps);
  // ---- attention block ----
  const float* a_in = x;
  if (!L.attn_pre_norm.empty()) {
    rmsnorm(x, L.attn_pre_norm.data(), eps, N, H, s.h.data());
    a_in = s.h.data();
  }
  {
    const MatrixRef ws[3] = {L.wq, L.wk, L.wv};
    float* const ys[3] = {s.q.data(), s.k.data(), s.v.data()};
    matmul_multi(a_in, N, ws, ys);
  }
  if (lora) apply_lora(*lora, {kLoraQ, kLoraK, kLoraV}, &lora->a_qkv, a_in, N, H, {s.q.data(), s.k.data(), s.v.data()}, s);
  if (!L.q_norm.empty()) rmsnorm(s.q.data(), L.q_norm.data(), eps, N * c.n_heads, hd, s.q.data());
  if (!L.k_norm.empty()) rmsnorm(s.k.data(), L.k_norm.data(), eps, N * c.n_kv_heads, hd, s.k.data());
  if (rope) {
    rope_neox(s.q.data(), N, c.n_heads, hd, pos, inv_freq_.data());
    rope_neox(s.k.data(), N, c.n_kv_heads, hd, pos, inv_freq_.data());
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  AttentionShape shape{c.n_heads, c.n_kv_heads, hd, window, scale};
  // All sequences' attention in one parallel loop (a decode batch is many tiny items); each cache
  // stores its rows only after every sequence has read its past.
  std::vector<AttentionSeq> seqs(caches.size());
  int64_t r = 0;
  for (size_t i = 0; i < caches.size(); ++i) {
    KVCache& cache = *caches[i];
    const int64_t T = rows[i];
    cache.round_rows(s.k.data() + r * kvd, T);
    cache.round_rows(s.v.data() + r * kvd, T);
    seqs[i] = {s.q.data() + r * qd, s.k.data() + r * kvd, s.v.data() + r * kvd, T, cache.past(cache_layer),
               s.att.data() + r * qd};
    r += T;
  }
  attention_batch(seqs, shape);
  r = 0;
  for (size_t i = 0; i < caches.size(); ++i) {
    caches[i]->store(cache_layer, s.k.data() + r * kvd, s.v.data() + r * kvd, rows[i]);
    r += rows[i];
  }
  matmul(s.att.data(), N, L.wo, s.o.data());
  if (lora) apply_lora(*lora, {kLoraO}, nullptr, s.att.data(), N, qd, {s.o.data()}, s);
  if (!L.attn_post_norm.empty()) rmsnorm(s.o.data(), L.attn_post_norm.data(), eps, N, H, s.o.data());
  add_inplace(x, s.o.data(), N * H);
  // ---- MLP block ----
  const float* m_in = x;
  if (!L.mlp_pre_norm.empty()) {
    rmsnorm(x, L.mlp_pre_norm.data(), eps, N, H, s.h.data());
    m_in = s.h.data();
  }
  if (L.moe) {
    moe_ffn(c, *L.moe, m_in, N, s.o.data());
  } else {
    const MatrixRef ws[2] = {L.w_gate, L.w_up};
    float* const ys[2] = {s.gate.data(), s.up.data()};
    matmul_multi(m_in, N, ws, ys);
    if (lora) apply_lora(*lora, {kLoraGate, kLoraUp}, &lora->a_gate_up, m_in, N, H, {s.gate.data(), s.up.data()}, s);
    silu_mul(s.gate.data(), s.up.data(), N * I);
    matmul(s.gate.data(), N, L.w_down, s.o.data());
    if (lora) apply_lora(*lora, {kLoraDown}, nullptr, s.gate.data(), N, I, {s.o.data()}, s);
  }
  if (!L.mlp_post_norm.empty()) rmsnorm(s.o.data(), L.mlp_post_norm.data(), eps, N, H, s.o.data());
  add_inplace(x, s.o.data(), N * H);
}

void DecoderModel::forward(std::span<const SequenceChunk> batch, std::vector<float>& logits) {
  forward_impl(batch, logits, nullptr);
}

void DecoderModel::forward_hidden(std::span<const SequenceChunk> batch, std::vector<float>& logits,
                                  std::vector<float>& hidden) {
  forward_impl(batch, logits, &hidden);
}

void DecoderModel::forward_impl(std::span<const SequenceChunk> batch, std::vector<float>& logits,
                                std::vector<float>* hidden) {
  const ModelConfig& c = cfg_;
  const int64_t H = c.hidden;

  // Flatten the batch: token rows of all sequences one after another.
  int64_t N = 0, out_rows = 0;
  std::vector<KVCache*> caches;
  std::vector<int64_t> rows;
  for (const auto& s : batch) {
    if (!s.cache) fail("forward: sequence without a KV cache");
    if (s.tokens.empty()) fail("forward: empty sequence chunk");
    if (s.cache->n_past() + static_cast<int64_t>(s.tokens.size()) > s.cache->max_context())
      fail("context length " + std::to_string(s.cache->max_context()) + " reached");
    N += static_cast<int64_t>(s.tokens.size());
    out_rows += s.all_logits ? static_cast<int64_t>(s.tokens.size()) : 1;
    caches.push_back(s.cache);
    rows.push_back(static_cast<int64_t>(s.tokens.size()));
  }
  std::vector<int32_t> pos(N);
  std::vector<float> x(N * H);
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

  Scratch scratch(c, N);
  for (int64_t l = 0; l < c.n_layers; ++l)
    run_layer(w_.layers[l], l, c.layer_rope[l], c.layer_sliding[l] ? c.sliding_window : 0, caches, rows, pos.data(),
              x.data(), N, scratch, lora_.empty() ? nullptr : &lora_[l]);
  for (const auto& s : batch) s.cache->advance(static_cast<int64_t>(s.tokens.size()));

  if (hidden) {  // every row, final-normed (the MTP layer's input)
    hidden->resize(static_cast<size_t>(N * H));
    rmsnorm(x.data(), w_.final_norm.data(), static_cast<float>(c.rms_eps), N, H, hidden->data());
  }
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

ModelConfig DecoderModel::mtp_cache_config() const {
  // A one-layer model of the MTP layer's attention type: KVCache sizes its ring from it.
  ModelConfig m = cfg_;
  m.n_layers = 1;
  m.layer_sliding = {cfg_.mtp_sliding};
  m.layer_rope = {cfg_.mtp_rope};
  m.sliding_window = cfg_.mtp_sliding ? cfg_.mtp_window : 0;
  m.layer_moe.clear();
  return m;
}

std::unique_ptr<KVCache> DecoderModel::new_mtp_cache(int64_t max_context, DType kv_type) const {
  if (!w_.mtp) fail("this model has no multi-token-prediction (MTP) layer");
  return std::make_unique<KVCache>(mtp_cache_config(), max_context > 0 ? max_context : cfg_.max_position, kv_type);
}

void DecoderModel::mtp_forward(std::span<const MtpChunk> batch, std::vector<float>& logits,
                               std::vector<float>& hidden) {
  if (!w_.mtp) fail("this model has no multi-token-prediction (MTP) layer");
  const MtpWeights& M = *w_.mtp;
  const ModelConfig& c = cfg_;
  const int64_t H = c.hidden;
  const float eps = static_cast<float>(c.rms_eps);
  int64_t N = 0, out_rows = 0;
  std::vector<KVCache*> caches;
  std::vector<int64_t> rows;
  for (const auto& s : batch) {
    const int64_t T = static_cast<int64_t>(s.tokens.size());
    if (!s.cache || !s.hidden) fail("mtp_forward: chunk without a cache or hidden states");
    if (T == 0) fail("mtp_forward: empty chunk");
    if (s.logit_rows < 0 || s.logit_rows > T) fail("mtp_forward: logit_rows out of range");
    if (s.cache->n_past() + T > s.cache->max_context())
      fail("context length " + std::to_string(s.cache->max_context()) + " reached (MTP layer)");
    N += T;
    out_rows += s.logit_rows;
    caches.push_back(s.cache);
    rows.push_back(T);
  }
  // x = fc([rmsnorm(embed(token p+1)) | rmsnorm(h_p)]): the embedding half first (vLLM's
  // ExaoneMoeMultiTokenPredictor concatenates inputs_embeds, then hidden_states).
  std::vector<int32_t> pos(N);
  std::vector<float> cat(N * 2 * H), row(H), x(N * H);
  {
    int64_t r = 0;
    for (const auto& s : batch) {
      for (size_t i = 0; i < s.tokens.size(); ++i, ++r) {
        const int32_t id = s.tokens[i];
        if (id < 0 || id >= c.vocab_size)
          fail("token id " + std::to_string(id) + " is out of range (vocab_size " + std::to_string(c.vocab_size) + ")");
        dequantize_row(w_.embed, id, row.data());
        rmsnorm(row.data(), M.embed_norm.data(), eps, 1, H, cat.data() + r * 2 * H);
        rmsnorm(s.hidden + static_cast<int64_t>(i) * H, M.hidden_norm.data(), eps, 1, H, cat.data() + r * 2 * H + H);
        pos[r] = static_cast<int32_t>(s.cache->n_past() + static_cast<int64_t>(i));
      }
    }
  }
  matmul(cat.data(), N, M.fc, x.data());
  Scratch scratch(c, N);
  run_layer(M.layer, 0, c.mtp_rope, c.mtp_sliding ? c.mtp_window : 0, caches, rows, pos.data(), x.data(), N, scratch);
  for (const auto& s : batch) s.cache->advance(static_cast<int64_t>(s.tokens.size()));

  hidden.resize(static_cast<size_t>(out_rows * H));
  {
    int64_t r = 0, o_r = 0;
    for (const auto& s : batch) {
      const int64_t T = static_cast<int64_t>(s.tokens.size());
      for (int64_t t = T - s.logit_rows; t < T; ++t, ++o_r) std::copy_n(x.data() + (r + t) * H, H, hidden.data() + o_r * H);
      r += T;
    }
  }
  rmsnorm(hidden.data(), M.final_norm.data(), eps, out_rows, H, hidden.data());
  logits.resize(static_cast<size_t>(out_rows * c.vocab_size));
  if (out_rows > 0) matmul(hidden.data(), out_rows, w_.lm_head, logits.data());
}

}  // namespace exaone

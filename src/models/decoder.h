// The decoder stack shared by the EXAONE families: GQA attention with optional per-head q/k
// RMSNorm and per-layer RoPE/NoPE and sliding window, SwiGLU MLP, and norms either before
// each block (pre-norm: EXAONE 3.x, K-EXAONE) or on each block's output (post-norm: EXAONE 4.0).
// Family files (exaone3.cpp, exaone4.cpp, ...) parse their config and bind weight names.
#pragma once
#include <array>
#include <initializer_list>
#include <memory>
#include <vector>

#include "kernels/matmul.h"
#include "models/model.h"
#include "util/huge_buffer.h"

namespace exaone {

// Routed experts of one MoE layer (K-EXAONE). Expert matrices point into the mapped files (a
// fused 3-D tensor is split into per-expert views without copying) and are never repacked: a
// decode step touches only the experts it chose.
struct MoeLayerWeights {
  MatrixRef router;                // [n_experts, hidden]
  std::vector<float> expert_bias;  // e_score_correction_bias [n_experts], widened
  std::vector<MatrixRef> gate, up, down;  // per expert: [I, hidden], [I, hidden], [hidden, I]
  MatrixRef shared_gate, shared_up, shared_down;  // rows == 0: no shared expert
};

struct DecoderLayerWeights {
  MatrixRef wq, wk, wv, wo, w_gate, w_up, w_down;  // w_* unused (rows 0) on MoE layers
  std::unique_ptr<MoeLayerWeights> moe;            // set on MoE layers
  // Norm weights widened to float32 at load (small). Empty = not present in this family.
  std::vector<float> attn_pre_norm, attn_post_norm, mlp_pre_norm, mlp_post_norm, q_norm, k_norm;
};

// The multi-token-prediction layer (DeepSeek-V3 style, K-EXAONE `mtp.*`): position p reads the
// main model's final-normed hidden state h_p and the embedding of token p+1, and predicts token
// p+2 through the shared head. Computation: docs/architecture.md.
struct MtpWeights {
  std::vector<float> embed_norm, hidden_norm, final_norm;  // pre_fc_norm_embedding, pre_fc_norm_hidden, norm
  MatrixRef fc;               // [hidden, 2 * hidden]: input is [norm(embedding) | norm(hidden)]
  DecoderLayerWeights layer;  // one decoder layer of the main model's kind, with a dense MLP
};

struct DecoderWeights {
  MatrixRef embed;  // [vocab, hidden]
  MatrixRef lm_head;  // [vocab, hidden]; the embedding when tied
  std::vector<float> final_norm;
  std::vector<DecoderLayerWeights> layers;
  std::unique_ptr<MtpWeights> mtp;  // null: the checkpoint has no MTP layer
};

class DecoderModel : public Model {
 public:
  DecoderModel(ModelConfig cfg, std::unique_ptr<WeightStore> store, DecoderWeights w);
  void forward(std::span<const SequenceChunk> batch, std::vector<float>& logits) override;
  void forward_hidden(std::span<const SequenceChunk> batch, std::vector<float>& logits,
                      std::vector<float>& hidden) override;
  bool has_mtp() const override { return w_.mtp != nullptr; }
  std::unique_ptr<KVCache> new_mtp_cache(int64_t max_context = 0, DType kv_type = DType::F32) const override;
  void mtp_forward(std::span<const MtpChunk> batch, std::vector<float>& logits, std::vector<float>& hidden) override;
  int64_t parameter_count() const override;
  void add_lora(const LoraAdapter& adapter, double scale) override;

 private:
  struct Scratch;
  // The LoRA adapters of one matrix, concatenated: a [rank, in] holds every adapter's A, b
  // [out, rank] every adapter's B with its scale folded in (several adapters = one stack).
  struct LoraStack {
    int64_t rank = 0;
    std::vector<float> a, b;
  };
  enum LoraSlot { kLoraQ, kLoraK, kLoraV, kLoraO, kLoraGate, kLoraUp, kLoraDown, kLoraSlots };
  // One layer's stacks, and the A of the matrices that read the same input (q/k/v, gate/up)
  // concatenated, so a group's update is one GEMM for A·x over the whole batch of rows, then one
  // small GEMM per matrix for B.
  struct LayerLora {
    std::array<LoraStack, kLoraSlots> slot;
    std::vector<float> a_qkv, a_gate_up;
    void rebuild_groups();
  };
  // ys[j] [N, outs[j]] += stack j's update for input x [N, in], for the stacks `slots` of `L`
  // that read x (`a_cat`: their A concatenated, or null for a single stack).
  static void apply_lora(const LayerLora& L, std::initializer_list<int> slots, const std::vector<float>* a_cat,
                         const float* x, int64_t N, int64_t in, std::initializer_list<float*> ys, Scratch& s);
  // `lora`: the layer's adapters, or null.
  void run_layer(const DecoderLayerWeights& L, int64_t cache_layer, bool rope, int64_t window,
                 std::span<KVCache* const> caches, std::span<const int64_t> rows, const int32_t* pos, float* x,
                 int64_t N, Scratch& s, const LayerLora* lora = nullptr) const;
  void forward_impl(std::span<const SequenceChunk> batch, std::vector<float>& logits, std::vector<float>* hidden);
  ModelConfig mtp_cache_config() const;
  // Copies the matrices into huge-page memory at load (util/huge_buffer.h): Q4_0/Q8_0/Q4_K/Q6_K
  // re-laid out for the AVX2 kernels (kernels/interleaved.h), float types as they are. The
  // MatrixRefs in w_ point at the copies, and the file pages they came from are released.
  void copy_weights_for_kernels();
  bool repack_routed_experts() const;

  DecoderWeights w_;
  std::vector<float> inv_freq_;
  HugeBuffer weight_copies_;  // all of copy_weights_for_kernels()' copies, one huge-page arena
  std::vector<LayerLora> lora_;  // per main layer; empty without adapters
};

// Helpers for family files.
MatrixRef matrix(const TensorView& t);
// Matrix `index` of a stacked 3-D tensor [n, rows, cols] (a view into the same memory).
MatrixRef stacked_matrix(const TensorView& t, int64_t index);
// Rows [r0, r0 + n) of `m` (a view; quantised types need whole rows, which they always are).
MatrixRef row_slice(const MatrixRef& m, int64_t r0, int64_t n);
std::vector<float> widen_vector(const TensorView& t);

}  // namespace exaone

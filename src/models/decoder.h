// The decoder stack shared by the EXAONE families: GQA attention with optional per-head q/k
// RMSNorm and per-layer RoPE/NoPE and sliding window, SwiGLU MLP, and norms either before
// each block (pre-norm: EXAONE 3.x, K-EXAONE) or on each block's output (post-norm: EXAONE 4.0).
// Family files (exaone3.cpp, exaone4.cpp, ...) parse their config and bind weight names.
#pragma once
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

struct DecoderWeights {
  MatrixRef embed;  // [vocab, hidden]
  MatrixRef lm_head;  // [vocab, hidden]; the embedding when tied
  std::vector<float> final_norm;
  std::vector<DecoderLayerWeights> layers;
};

class DecoderModel : public Model {
 public:
  DecoderModel(ModelConfig cfg, std::unique_ptr<WeightStore> store, DecoderWeights w);
  void forward(std::span<const SequenceChunk> batch, std::vector<float>& logits) override;
  int64_t parameter_count() const override;

 private:
  // Copies the matrices into huge-page memory at load (util/huge_buffer.h): Q4_0/Q8_0/Q4_K/Q6_K
  // re-laid out for the AVX2 kernels (kernels/interleaved.h), float types as they are. The
  // MatrixRefs in w_ point at the copies, and the file pages they came from are released.
  void copy_weights_for_kernels();

  DecoderWeights w_;
  std::vector<float> inv_freq_;
  HugeBuffer weight_copies_;  // all of copy_weights_for_kernels()' copies, one huge-page arena
};

// Helpers for family files.
MatrixRef matrix(const TensorView& t);
// Matrix `index` of a stacked 3-D tensor [n, rows, cols] (a view into the same memory).
MatrixRef stacked_matrix(const TensorView& t, int64_t index);
// Rows [r0, r0 + n) of `m` (a view; quantised types need whole rows, which they always are).
MatrixRef row_slice(const MatrixRef& m, int64_t r0, int64_t n);
std::vector<float> widen_vector(const TensorView& t);

}  // namespace exaone

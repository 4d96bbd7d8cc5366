// The decoder stack shared by the EXAONE families: GQA attention with optional per-head q/k
// RMSNorm and per-layer RoPE/NoPE and sliding window, SwiGLU MLP, and norms either before
// each block (pre-norm: EXAONE 3.x, K-EXAONE) or on each block's output (post-norm: EXAONE 4.0).
// Family files (exaone3.cpp, exaone4.cpp, ...) parse their config and bind weight names.
#pragma once
#include <vector>

#include "kernels/matmul.h"
#include "models/model.h"
#include "util/huge_buffer.h"

namespace exaone {

struct DecoderLayerWeights {
  MatrixRef wq, wk, wv, wo, w_gate, w_up, w_down;
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
std::vector<float> widen_vector(const TensorView& t);

}  // namespace exaone

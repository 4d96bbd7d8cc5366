// The mixture-of-experts feed-forward block of K-EXAONE (spec §3.1; docs/architecture.md
// "K-EXAONE MoE"): sigmoid router with group-limited top-k, routed SwiGLU experts, shared expert.
#pragma once
#include <cstdint>
#include <vector>

#include "models/config.h"
#include "models/decoder.h"

namespace exaone {

// Routing for `n` tokens from their router logits [n, n_experts]: for token t, experts[t*k + j]
// (ascending expert index) with weights[t*k + j], k = c.n_experts_used. As transformers'
// ExaoneMoeTopkRouter: scores = sigmoid(logits); choice = scores + bias; group score = sum of the
// group's two best choices; keep the best topk_group groups; top-k choices inside them; weights =
// the chosen *scores* (no bias), divided by their sum + 1e-20 if norm_topk_prob, times routed_scaling.
// Ties go to the lower index.
void moe_route(const ModelConfig& c, const float* logits, const float* bias, int64_t n, int32_t* experts,
               float* weights);

// out[n, hidden] = sum over chosen experts of weight * expert(x) + shared(x). All tokens are routed
// at once; then the tokens of each active expert are gathered and run through it as one GEMM
// (decode therefore reads only the chosen experts' matrices). Contributions are added in expert
// order, as transformers' index_add_ loop does.
void moe_ffn(const ModelConfig& c, const MoeLayerWeights& w, const float* x, int64_t n, float* out);

}  // namespace exaone

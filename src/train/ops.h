// Training kernels, float32: each forward op that training needs, with the activations its
// backward pass reads, beside its hand-written backward pass. Conventions:
//  - row-major activations, PyTorch Linear layout for weights (W is [N, K], y = x·Wᵀ);
//  - backward functions *accumulate* (+=) into parameter gradients and into input gradients
//    that have several producers (residual stream), and *write* (=) the other input gradients,
//    as each signature says;
//  - every reduction runs in a fixed order whatever the thread count, so a run is bit-for-bit
//    reproducible (and independent of how the pool splits the work).
#pragma once
#include <cstdint>

#include "kernels/gemm_train.h"

namespace exaone::train {

// ---- linear: y[T,N] = x[T,K] · W[N,K]ᵀ ----
void linear_forward(const float* x, int64_t T, int64_t K, const float* W, int64_t N, float* y);
// dx[T,K] (=) dy·W, or (+=) when `accumulate`; dW[N,K] += dyᵀ·x. dx may be null (input needs no grad).
void linear_backward(const float* dy, const float* x, const float* W, int64_t T, int64_t K, int64_t N, float* dx,
                     float* dW, bool accumulate = false);

// The two halves, for callers that reuse one transposed weight over several row blocks (the head):
// dx[T,K] (=) dy · Wt[K,N]ᵀ with Wt = Wᵀ, and dW[N,K] += dyᵀ·x.
void transpose_matrix(const float* in, int64_t rows, int64_t cols, float* out);  // out[c, r] = in[r, c]
void linear_backward_input_t(const float* dy, const float* Wt, int64_t T, int64_t K, int64_t N, float* dx);
void linear_backward_weight(const float* dy, const float* x, int64_t T, int64_t K, int64_t N, float* dW);

// Precision of the linear layers' products (process-wide; default F32). BF16 rounds both inputs of
// every product to bfloat16 and accumulates in float; parameters and gradients stay float32.
void set_matmul_precision(GemmPrecision p);
GemmPrecision matmul_precision();

// ---- RMSNorm over rows of `dim`: y = (x * r) * w, r = 1/sqrt(mean(x²) + eps) ----
// Same float arithmetic as kernels/ops.h rmsnorm (double sum of squares, float rsqrt), so the
// trainable model reproduces the inference logits. rstd[rows] is saved for backward. y may alias x.
void rmsnorm_forward(const float* x, const float* w, float eps, int64_t rows, int64_t dim, float* y, float* rstd);
// dx (=) or (+=) when `accumulate`; dw += Σ_rows dy·x·r. dx must not alias dy when accumulating.
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t rows, int64_t dim,
                      float* dx, float* dw, bool accumulate = false);

// ---- NeoX RoPE on x = [rows, n_heads, head_dim], row r at positions[r] (in place) ----
// backward is the inverse rotation applied to the gradient (in place).
void rope_forward(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
                  const float* inv_freq);
void rope_backward(float* dx, int64_t rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
                   const float* inv_freq);

// ---- causal GQA attention (optionally sliding window) over B independent sequences of T rows ----
// q: [B*T, n_heads*hd], k/v: [B*T, n_kv*hd], out: [B*T, n_heads*hd]. Query head h reads kv head
// h / (n_heads / n_kv). Key j visible to query i iff j <= i and (window == 0 or i - window < j).
// lse[B, n_heads, T] (log-sum-exp of each score row) is saved: backward recomputes the
// probabilities from it instead of keeping a T×T matrix per head.
struct AttnDims {
  int64_t B = 1, T = 0, n_heads = 0, n_kv = 0, head_dim = 0, window = 0;
  float scale = 1.0f;
};
void attention_forward(const float* q, const float* k, const float* v, const AttnDims& d, float* out, float* lse);
// dq, dk, dv are written (=).
void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const AttnDims& d, float* dq, float* dk, float* dv);

// ---- SwiGLU: act = silu(gate) * up ----
void swiglu_forward(const float* gate, const float* up, int64_t n, float* act);
// dgate, dup written (=).
void swiglu_backward(const float* dact, const float* gate, const float* up, int64_t n, float* dgate, float* dup);

// ---- embedding: x[r] = E[ids[r]] ----
void embedding_forward(const int32_t* ids, int64_t rows, const float* E, int64_t dim, float* x);
// dE[ids[r]] += dx[r]
void embedding_backward(const float* dx, const int32_t* ids, int64_t rows, int64_t dim, float* dE);

// ---- cross-entropy with the softmax fused ----
// logits [rows, V]; targets < 0 are ignored (HF's -100). Returns the summed loss over counted rows
// (double) and, when dlogits is not null, writes dlogits = (softmax - onehot) * grad_scale for
// counted rows, 0 for ignored ones. dlogits may alias logits.
double cross_entropy_forward_backward(const float* logits, const int32_t* targets, int64_t rows, int64_t V,
                                      float grad_scale, float* dlogits, int64_t* counted = nullptr);

// ---- residual: y += x (forward); its backward passes the gradient to both branches unchanged ----
void add_into(float* y, const float* x, int64_t n);

}  // namespace exaone::train

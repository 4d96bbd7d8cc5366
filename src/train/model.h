// A trainable EXAONE model in float32: parameters, gradients and the activations a backward pass
// needs, with a forward + backward over a batch of B token sequences of length T.
// The architecture comes from the same ModelConfig the inference side parses:
//  - EXAONE 4.0 (spec §1): post-norm ("QK-reorder") blocks, per-head q/k RMSNorm, hybrid
//    sliding-window layers with NoPE on global layers, llama3 RoPE scaling, tied or untied head;
//  - EXAONE 3.x (spec §2): pre-norm blocks, RoPE on every layer.
// Parameters carry their Hugging Face names, so checkpoints are ordinary HF folders.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/config.h"
#include "util/dtype.h"

namespace exaone {
class WeightStore;
}

namespace exaone::train {

struct Param {
  std::string name;             // HF tensor name
  std::vector<int64_t> shape;   // PyTorch order
  std::vector<float> w, g;      // values and gradient (same size; g empty when frozen)
  bool decay = true;            // AdamW weight decay applies (matrices; not norm weights)
  // false: frozen (LoRA's base). Backward computes no gradient for it (the dW products are most of
  // a LoRA step's saving) and g is empty.
  bool trainable = true;
  // A frozen matrix kept in its storage type (a GGUF base, QLoRA-style): w is empty and `stored`
  // points into the mapped file; each use dequantizes a block of rows into scratch.
  const void* stored = nullptr;
  DType stored_type = DType::F32;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
};

// An addition to one linear layer's output, y += f(x), with parameters of its own (LoRA: train/lora.h).
class LinearAdapter {
 public:
  virtual ~LinearAdapter() = default;
  // y[T, out] += f(x[T, in]). `training`: the forward of forward_backward (dropout on); what the
  // backward needs is kept until the next forward.
  virtual void forward(const float* x, int64_t T, float* y, bool training) = 0;
  // After forward with the same x: dx[T, in] += dy·∂f/∂x, and the adapter's own gradients accumulated.
  virtual void backward(const float* dy, const float* x, int64_t T, float* dx) = 0;
};

// B sequences of T tokens, row-major [B, T]; targets[b, t] is the token to predict after
// tokens[b, t] (negative: not counted, like HF's -100).
struct Batch {
  const int32_t* tokens = nullptr;
  const int32_t* targets = nullptr;
  int64_t B = 1, T = 0;
};

class TrainableModel {
 public:
  // Parameters allocated with norm weights 1 and matrices 0 (call init_random or load values).
  explicit TrainableModel(ModelConfig cfg);
  ~TrainableModel();
  TrainableModel(const TrainableModel&) = delete;
  TrainableModel& operator=(const TrainableModel&) = delete;

  // An HF checkpoint folder (config.json + safetensors in F32/F16/BF16): values widened to float32.
  // A .gguf file (any storage type the inference engine reads): a frozen base for LoRA (QLoRA-style),
  // every matrix kept as stored in the mapped file (memory ≈ the file), norm weights as float.
  static std::unique_ptr<TrainableModel> load(const std::string& path);

  // Freezes every parameter (LoRA trains adapters only) and releases the gradients.
  void freeze_all();
  // True when some matrices are kept in their storage type (a GGUF base): they cannot be trained,
  // saved as float or merged into.
  bool has_stored_weights() const;

  // The linear layers of the blocks, by HF module name ("model.layers.3.self_attn.q_proj") and the
  // family's short name ("q_proj"; EXAONE 3.x: "q_proj", "out_proj", "c_fc_0", ...).
  struct LinearInfo {
    std::string module, short_name;
    Param* weight = nullptr;   // [out, in]
    int64_t layer = 0;
  };
  std::vector<LinearInfo> linear_layers();
  // Adds `adapter` to the output of linear layer `module` (nullptr removes it); not owned.
  void set_adapter(const std::string& module, LinearAdapter* adapter);

  // Deterministic for a seed: matrices N(0, std), the two projections that write into the
  // residual stream (o_proj, down_proj) N(0, std/sqrt(2·layers)), norm weights 1.
  void init_random(uint64_t seed, float std = 0.02f);

  const ModelConfig& config() const { return cfg_; }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  Param* find(const std::string& name);
  bool tied() const { return lm_head_ == nullptr; }
  int64_t parameter_count() const;

  void zero_grad();
  // Mean cross-entropy over the counted targets. Gradients are *added* to Param::g, scaled by
  // grad_scale (1/accumulation steps when accumulating micro-batches).
  double forward_backward(const Batch& batch, float grad_scale = 1.0f);
  // Loss only (no gradients); `logits` gets [B*T, vocab] when not null. Targets may be null
  // when only the logits are wanted (then the loss is 0).
  double forward(const Batch& batch, std::vector<float>* logits = nullptr);

  // Model FLOPs per trained token (forward + backward = 3 × forward; matmuls 2 FLOPs per weight
  // use, causal attention at sequence length T, windowed on sliding layers): the MFU numerator.
  double flops_per_token(int64_t T) const;

  // Rows of the batch whose logits exist at once in forward_backward (default 512; tests use small ones).
  void set_head_block_rows(int64_t rows) { head_block_rows_ = std::max<int64_t>(1, rows); }

 private:
  // One linear layer: its weight (float, or stored when frozen) and an optional adapter.
  struct Linear {
    Param* w = nullptr;
    LinearAdapter* adapter = nullptr;
  };
  struct Layer {
    Linear wq, wk, wv, wo, w_gate, w_up, w_down;
    Param *q_norm = nullptr, *k_norm = nullptr;              // EXAONE 4.0
    Param *attn_post = nullptr, *mlp_post = nullptr;         // EXAONE 4.0 (post-norm)
    Param *attn_pre = nullptr, *mlp_pre = nullptr;           // EXAONE 3.x (pre-norm)
  };
  // What backward reads of one layer (sizes for N = B*T rows).
  struct Saved {
    std::vector<float> x_in, h1, rstd1;                 // layer input; pre-norm: normed input
    std::vector<float> q_raw, k_raw, rstd_q, rstd_k;    // before the q/k norms
    std::vector<float> q, k, v, att, lse;               // attention operands (q/k after norm+RoPE)
    std::vector<float> o, rstd_o;                       // o_proj output (before post-norm)
    std::vector<float> x_mid, h2, rstd2;                // after the attention block; pre-norm: normed
    std::vector<float> gate, up, act, m, rstd_m;        // MLP
  };

  TrainableModel(ModelConfig cfg, bool alloc_matrices);
  Param& add_param(const std::string& name, std::vector<int64_t> shape, bool decay);
  // y[T, out] = x·Wᵀ (+ the adapter's term); `training` turns the adapter's dropout on.
  void linear_fwd(const Linear& L, const float* x, int64_t T, float* y, bool training);
  // dx (=, or += when `accumulate`) through W and the adapter; dW accumulated unless W is frozen.
  void linear_bwd(const Linear& L, const float* dy, const float* x, int64_t T, float* dx, bool accumulate);
  // The weight rows [r0, r1) as float: W itself, or dequantized into scratch_ when stored.
  const float* weight_rows(const Param& p, int64_t r0, int64_t r1);
  int64_t weight_block_rows(const Param& p) const;
  static float* grad(Param* p) { return p && p->trainable && !p->g.empty() ? p->g.data() : nullptr; }
  double run(const Batch& batch, bool backward, float grad_scale, std::vector<float>* logits_out);
  void layer_forward(int64_t l, int64_t B, int64_t T, const float* x_in, float* x_out, bool training);
  void layer_backward(int64_t l, int64_t B, int64_t T, float* dx);

  ModelConfig cfg_;
  std::vector<Param> params_;  // never resized after construction: Layer/embed pointers stay valid
  Param* embed_ = nullptr;
  Param* lm_head_ = nullptr;   // null when tied (the embedding is the head)
  Param* final_norm_ = nullptr;
  std::vector<Layer> layers_;
  std::vector<float> inv_freq_;
  std::vector<int32_t> pos_;
  std::vector<Saved> saved_;
  std::vector<float> x_final_, hf_, rstd_f_, logits_;  // logits_: one block of rows
  int64_t head_block_rows_ = 512;
  std::unique_ptr<WeightStore> store_;  // the mapped GGUF file of stored weights
  std::vector<float> scratch_;           // dequantized rows of one stored matrix block
  bool alloc_matrices_ = true;           // false when load() builds a model of stored weights
};

}  // namespace exaone::train

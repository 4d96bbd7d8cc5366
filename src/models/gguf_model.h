// EXAONE checkpoints as GGUF: metadata <-> ModelConfig (spec §4.2), tokenizer and chat-template
// metadata from a Hugging Face folder (llama.cpp's keys), and conversion / re-quantisation of a
// loaded checkpoint into a GGUF file llama.cpp can read (spec §4.2/§4.3).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "loaders/gguf.h"
#include "models/config.h"

namespace exaone {

// ModelConfig from GGUF metadata (not validated; load_model does that). Sliding layers come
// from the per-layer `<arch>.attention.sliding_window_pattern` array (period 4 when absent),
// RoPE on sliding layers or everywhere without a window, `rope_freqs` as divisors.
ModelConfig gguf_model_config(const GgufFile& f);

// What `--type` asks for: one storage type for every matrix, or llama.cpp's Q4_K_M, Q5_K_M or Q3_K_M mix.
struct GgufOutType {
  DType type = DType::F16;  // Q4_K for the Q4_K_M mix, Q5_K for Q5_K_M, Q3_K for Q3_K_M
  bool q4_k_m = false;
  bool q5_k_m = false;
  bool q3_k_m = false;
  GgufOutType() = default;
  GgufOutType(DType t) : type(t) {}  // NOLINT: a plain DType means "every matrix in this type"
  bool operator==(const GgufOutType&) const = default;
};

// "f32|f16|bf16|q8_0|q4_0|q4_k|q6_k|q4_k_m|q5_k_m|q3_k_m" -> GgufOutType; Error otherwise.
GgufOutType parse_gguf_out_type(const std::string& s);
std::string gguf_out_type_name(const GgufOutType& t);
// llama.cpp's llama_ftype for general.file_type (q4_k -> 14 "Q4_K_S", q4_k_m -> 15, q5_k_m -> 17,
// q3_k_m -> 12, q6_k -> 18).
uint32_t gguf_file_type(const GgufOutType& t);

// Storage type of one tensor (GGUF name, PyTorch-order shape) under `t`, as llama-quantize chooses it:
//  * 1-D tensors (norms, rope_freqs) stay F32.
//  * Q4_K_M: Q4_K, except Q6_K for `output.weight` (or `token_embd.weight` when there is no output
//    tensor), and for attn_v / ffn_down of layer i when use_more_bits(i, n_layers):
//    i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2 (llama.cpp src/llama-quant.cpp).
//  * Q5_K_M: Q5_K, with Q4_K_M's Q6_K bumps (output; attn_v / ffn_down of use_more_bits layers).
//  * Q3_K_M: Q3_K, except Q6_K for the output, attn_v Q5_K in layers 0-1 and Q4_K after, ffn_down Q5_K
//    for layers below n/16 and Q4_K after, attn_output Q4_K (llama_tensor_get_type, non-Falcon arch).
//  * A row length that does not fit the chosen blocks falls back as llama.cpp does: under Q5_K_M and
//    Q3_K_M Q2_K/Q3_K/IQ4_XS -> IQ4_NL, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; under Q4_K_M and the
//    single types Q4_K and Q6_K -> Q8_0 (files written before Q5_0 existed here); then F16.
DType gguf_tensor_type(const GgufOutType& t, const std::string& gguf_name, const std::vector<int64_t>& shape,
                       int64_t n_layers, bool has_output);

// Called after each tensor is written: (tensors done, total, GGUF name, stored type).
using GgufProgress = std::function<void(size_t, size_t, const std::string&, DType)>;

// Metadata + tensors for `c`/`weights` stored as `type` (see gguf_tensor_type). No tokenizer keys
// beyond the bos/eos/padding ids of the config.
GgufWriter build_gguf(const ModelConfig& c, const WeightStore& weights, GgufOutType type,
                      const GgufProgress& progress = {});

// llama.cpp's tokenizer metadata from the Hugging Face tokenizer in `model_dir` (tokenizer.json,
// tokenizer_config.json, config.json) and its chat template (chat_template.jinja or
// tokenizer_config.json `chat_template`):
//   tokenizer.ggml.model "gpt2"; .pre "exaone" (Digits(individual) + ByteLevel), "exaone4" (ByteLevel
//   regex) or "exaone-moe" (the K-EXAONE Split regex + ByteLevel) from the declared pre-tokenizer;
//   .tokens (byte-level vocabulary form; added tokens as their content) padded to `vocab_size` with
//   "[PAD<id>]"; .token_type 1 normal, 3 control (special added), 4 user-defined (other added),
//   5 unused (padding); .merges "left right"; bos/eos/padding ids from tokenizer_config token names
//   (config.json ids as fallback); add_bos_token / add_eos_token when tokenizer_config has them;
//   tokenizer.chat_template.
// Returns false (writing nothing) when the folder has no tokenizer.json. Error for a tokenizer GGUF
// cannot express (normalizer, other pre-tokenizers, ids beyond vocab_size). `notes` receives
// warnings about what is lost (added-token lstrip/rstrip/single_word flags).
bool add_hf_tokenizer_metadata(GgufWriter& w, const std::string& model_dir, int64_t vocab_size,
                               std::vector<std::string>* notes = nullptr);

// Copies tokenizer.* metadata and general.name-like keys from an existing GGUF (re-quantisation).
void copy_tokenizer_metadata(GgufWriter& w, const GgufFile& src);

// Loads the checkpoint at `src` (HF folder or .gguf) and writes `out` with its tokenizer metadata;
// refuses to replace an existing `out` unless `force`. Returns notes for the user.
std::vector<std::string> convert_to_gguf(const std::string& src, const std::string& out, GgufOutType type, bool force,
                                         const GgufProgress& progress = {});

}  // namespace exaone

// EXAONE checkpoints as GGUF: metadata <-> ModelConfig (spec §4.2) and conversion of a loaded
// checkpoint into a GGUF file llama.cpp can read (spec §4.2/§4.3).
#pragma once
#include <string>

#include "loaders/gguf.h"
#include "models/config.h"

namespace exaone {

// ModelConfig from GGUF metadata (not validated; load_model does that). Sliding layers come
// from the per-layer `<arch>.attention.sliding_window_pattern` array (period 4 when absent),
// RoPE on sliding layers or everywhere without a window, `rope_freqs` as divisors.
ModelConfig gguf_model_config(const GgufFile& f);

// Metadata + tensors for `c`/`weights` stored as `type` (F32, F16, BF16, Q8_0, Q4_0): 2-D
// matrices in `type` (F16 when a row length does not fit the 32-element blocks), 1-D norms F32.
GgufWriter build_gguf(const ModelConfig& c, const WeightStore& weights, DType type);

// Loads the checkpoint at `src` (HF folder or .gguf) and writes `out`; refuses to replace an
// existing `out` unless `force`.
void convert_to_gguf(const std::string& src, const std::string& out, DType type, bool force);

// "f32|f16|bf16|q8_0|q4_0" -> DType; Error otherwise.
DType parse_gguf_out_type(const std::string& s);

}  // namespace exaone

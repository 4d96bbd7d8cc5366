// LoRA adapters on disk: the PEFT folder (adapter_config.json + adapter_model.safetensors, as HF
// `peft` saves and loads it) and llama.cpp's GGUF LoRA adapter (general.type "adapter",
// adapter.type "lora"). Training (src/train/lora.*) produces a LoraAdapter, inference
// (`--lora PATH[:scale]`) and merging consume one; the file formats live only here.
//
// The update of one linear layer y = W·x is y = W·x + scale·B·(A·x), A [rank, in], B [out, rank]
// (PyTorch order, row-major), scale = alpha / rank (alpha / sqrt(rank) with use_rslora).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace exaone {

struct LoraPair {
  std::string target;          // the HF module name of the linear layer, e.g. "model.layers.3.self_attn.q_proj"
  int64_t rank = 0, in = 0, out = 0;
  std::vector<float> a;        // [rank, in]
  std::vector<float> b;        // [out, rank]
  double alpha = 0;            // this module's alpha (PEFT alpha_pattern may differ per module)
};

struct LoraAdapter {
  int64_t rank = 0;                        // the config's r (a pair's own rank may differ via rank_pattern)
  double alpha = 0;                        // lora_alpha
  bool use_rslora = false;
  double dropout = 0;                      // recorded for PEFT; not used at inference
  std::vector<std::string> target_modules; // short names, e.g. {"q_proj", "v_proj"}
  std::string base_model;                  // base_model_name_or_path as written in the config
  std::vector<LoraPair> pairs;
  std::string arch;                        // GGUF adapters: general.architecture of the base ("" for PEFT)
  std::string source;                      // the path it was read from ("" when built in memory), for messages

  // alpha / rank of one pair (alpha / sqrt(rank) with rslora).
  double scale_of(const LoraPair& p) const;
};

// A PEFT folder (or its adapter_config.json / adapter_model.safetensors) or a GGUF LoRA file.
// Tensors F32, F16 or BF16 are widened to float32. Unsupported PEFT features (DoRA, bias other than
// "none", modules_to_save, fan_in_fan_out, LoRA on embeddings, ...) and shape mismatches are errors
// naming the file and field. Pairs come back sorted by target (layer numbers compared as numbers).
// rank_pattern / alpha_pattern are resolved per pair as peft does (regex `(.*\.)?(key)$` against
// the module name, first key that matches wins).
LoraAdapter read_lora_adapter(const std::string& path);

// A PEFT folder that `peft.PeftModel.from_pretrained` loads: adapter_config.json (peft_type LORA,
// task_type CAUSAL_LM) and adapter_model.safetensors (F32) with PEFT's tensor names
// ("base_model.model.<target>.lora_A.weight", ".lora_B.weight"). Writes to temporary names, then renames.
void write_peft_adapter(const LoraAdapter& adapter, const std::string& dir);

// A llama.cpp GGUF LoRA adapter for a base of GGUF architecture `arch` ("exaone4", "exaone", ...):
// tensor names "blk.N.attn_q.weight.lora_a" / ".lora_b" (names from gguf.h's hf_to_gguf_name),
// adapter.lora.alpha, F32. GGUF has one alpha for the file: a pair whose scale differs from
// alpha / its rank (alpha_pattern, rslora) gets the ratio folded into its B, so llama.cpp's
// scale = alpha / rank gives the same update.
void write_gguf_lora_adapter(const LoraAdapter& adapter, const std::string& arch, const std::string& path);

}  // namespace exaone

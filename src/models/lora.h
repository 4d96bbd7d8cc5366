// LoRA adapters at inference: `--lora PATH[:scale]` specs, loading a model with adapters, and
// merging an adapter into float weights. The adapters stay unmerged at run time (the decoder adds
// s·B·(A·x) after each targeted matmul, docs/architecture.md), so quantised bases stay quantised
// and several adapters stack.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loaders/lora_adapter.h"
#include "models/model.h"

namespace exaone {

struct LoraSpec {
  std::string path;
  double scale = 1.0;  // the user's multiplier; the update is scale · alpha/r · B·A
};

// "PATH" or "PATH:SCALE" (the part after the last ':' when it parses as a finite number).
LoraSpec parse_lora_spec(const std::string& arg);

// Help text of the `--lora` option (run, chat, logits, info, bench, serve).
inline constexpr const char* kLoraOptionHelp =
    "LoRA adapter PATH[:SCALE] (PEFT folder or GGUF LoRA file), applied at run time without merging; "
    "repeatable: adapters stack";

// Each "PATH[:SCALE]" of a repeated --lora option, parsed.
std::vector<LoraSpec> parse_lora_specs(const std::vector<std::string>& args);

// load_model, then each adapter read (read_lora_adapter) and added in order (Model::add_lora).
std::unique_ptr<Model> load_model(const std::string& path, const std::vector<LoraSpec>& loras);

// One line per applied adapter, for load logs and `info`: "lora ADAPTER: scale S, N matrices, rank R, alpha A".
std::vector<std::string> describe_loras(const Model& model);

// W + scale · alpha/r · B·A for every pair of `adapter` whose target names a matrix in `weights`
// (`<target>.weight`), widened to float32, keyed by tensor name. Float bases only (F32, F16, BF16):
// a quantised matrix, a missing tensor or a shape mismatch is an Error naming the adapter and tensor.
std::map<std::string, std::vector<float>> merge_lora(const WeightStore& weights, const LoraAdapter& adapter,
                                                     double scale = 1.0);

}  // namespace exaone

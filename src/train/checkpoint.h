// Training checkpoints as Hugging Face folders: config.json + model.safetensors (float32) load
// with `exaone run` and transformers alike; a training checkpoint adds optimizer.safetensors
// (AdamW moments) and trainer_state.json (step, options) for an exact resume.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/config.h"
#include "train/model.h"
#include "util/json_file.h"

namespace exaone::train {

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
};

// One safetensors file of F32 tensors (written to a temporary name, then renamed: a crash never
// leaves a half-written file under the final name).
void write_safetensors_f32(const std::string& path, const std::vector<NamedTensor>& tensors);

// config.json of a ModelConfig in its family's HF spelling (EXAONE 4.0 or 3.x); parse_model_config
// of the result gives the same architecture back.
json hf_config_json(const ModelConfig& c);

// config.json + model.safetensors into `dir` (created if needed).
void save_model(const TrainableModel& m, const std::string& dir);
// Overwrites the values of every parameter of `m` from the safetensors file(s) at `path`
// (a folder or one file); shapes must match.
void load_parameters(TrainableModel& m, const std::string& path);

}  // namespace exaone::train

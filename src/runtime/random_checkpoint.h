// Random-weight Hugging Face checkpoints of real EXAONE shapes (`exaone make-model`), so that speed
// can be measured without downloading weights. The weights are a counter-based draw from the seed
// (the same files whatever the thread count); the config and tensor names are those of the released
// checkpoints, so loading, conversion and every kernel run exactly as on the real model.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace exaone {

struct RandomCheckpointOptions {
  std::string shape = "1.2b";  // see random_checkpoint_shapes()
  std::string out;             // output folder
  std::string dtype = "bf16";  // bf16, f16 or f32 (K-EXAONE's router bias stays F32, as released)
  uint64_t seed = 0;
  uint64_t max_shard_bytes = 4'000'000'000ull;  // HF-style shards above this size
  bool force = false;          // overwrite an existing checkpoint
};

struct RandomCheckpointResult {
  uint64_t bytes = 0;      // weight bytes written
  size_t shards = 0;
  int64_t parameters = 0;  // main model (the MTP layer not counted, as transformers does not load it)
  int64_t active_parameters = 0;  // per token: all but the unchosen routed experts
};

// "name: description" of every shape.
std::vector<std::string> random_checkpoint_shapes();

// Writes config.json, generation_config.json and model.safetensors (or shards + index). Error on a
// bad option or an existing checkpoint without `force`.
RandomCheckpointResult write_random_checkpoint(const RandomCheckpointOptions& o);

}  // namespace exaone

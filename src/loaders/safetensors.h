// Hugging Face safetensors: one file, or shards listed in model.safetensors.index.json.
// Format: u64 little-endian header length, JSON header {name: {dtype, shape, data_offsets}},
// then the raw row-major data. Everything is validated before a byte of data is used.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loaders/weight_store.h"

namespace exaone {

// Parses the header of a mapped safetensors file into views (validated: dtypes, shapes,
// offsets within the file, sizes matching shapes, no overlapping ranges).
std::vector<TensorView> parse_safetensors(const uint8_t* data, size_t size, const std::string& path);

// Loads every tensor of a checkpoint folder (index + shards, model.safetensors, or all
// *.safetensors files) or of a single .safetensors file into `store`.
void load_safetensors_checkpoint(const std::string& path, WeightStore& store);

// One tensor to write: PyTorch-order shape, `data` holds numel floats.
struct SafetensorsF32 {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
};

// One safetensors file of F32 tensors (header metadata {"format": "pt"}, data 8-byte aligned),
// written to a temporary name, then renamed: a crash never leaves a half-written file.
void write_safetensors_f32(const std::string& path, const std::vector<SafetensorsF32>& tensors);

}  // namespace exaone

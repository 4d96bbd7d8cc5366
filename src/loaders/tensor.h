// A read-only view of one stored weight tensor (memory-mapped, never copied), as every
// loader (safetensors folder, GGUF file) exposes it to the models.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "util/dtype.h"

namespace exaone {

struct TensorView {
  std::string name;             // Hugging Face name (loaders map other spellings to it)
  DType dtype = DType::F32;
  std::vector<int64_t> shape;   // PyTorch order, outermost first: Linear weight = [out, in]
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::string file;             // where it came from, for messages

  int64_t numel() const;
  int64_t rows() const { return shape.empty() ? 1 : numel() / shape.back(); }
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  std::string shape_str() const;  // "[2048, 512]"
};

}  // namespace exaone

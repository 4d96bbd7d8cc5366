// A read-only view of one stored weight tensor (memory-mapped, never copied), as every
// loader (safetensors folder, GGUF file) exposes it to the models.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace exaone {

// Storage types. Block-quantised types use llama.cpp's block layouts (issue: GGUF interop).
enum class DType { F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K };

const char* dtype_name(DType t);
// Elements per block and bytes per block (1 and the element size for plain types).
int64_t dtype_block_elems(DType t);
int64_t dtype_block_bytes(DType t);
// Bytes needed for `n` elements (n must be a multiple of the block size).
size_t dtype_bytes_for(DType t, int64_t n);

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

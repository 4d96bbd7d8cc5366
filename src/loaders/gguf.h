// GGUF (llama.cpp's single-file format, version 2/3): a bounds-checked reader that exposes
// tensors as TensorViews in PyTorch order under their Hugging Face names, and a writer.
// Format: ggml docs/gguf.md. Name mapping: shared/spec/exaone.md §4.3.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loaders/tensor.h"
#include "loaders/weight_store.h"
#include "util/json_file.h"

namespace exaone {

// Metadata value types as numbered in the GGUF spec.
enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* gguf_type_name(GgufType t);

struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType elem_type = GgufType::U32;  // arrays only
  json value;                          // number, bool, string, or array of those
};

// ggml tensor type ids (ggml.h) for the storage types we know (every DType).
uint32_t ggml_type_of(DType t);
std::optional<DType> dtype_of_ggml(uint32_t ggml_type);

struct GgufTensorInfo {
  std::string name;            // as stored (GGUF spelling, e.g. "blk.0.attn_q.weight")
  std::vector<int64_t> ne;     // dims innermost-first, as stored
  uint32_t ggml_type = 0;
  uint64_t offset = 0;         // relative to the data section
  TensorView view;             // PyTorch-order shape, pointing into the file; name = GGUF name
};

struct GgufFile {
  std::string path;
  uint32_t version = 3;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;    // absolute start of the data section
  std::map<std::string, GgufValue> kv;
  std::vector<std::string> kv_order;  // keys in file order
  std::vector<GgufTensorInfo> tensors;

  const GgufValue* find(const std::string& key) const;
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // Typed getters: Error naming the file and key when missing or of the wrong kind.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::optional<int64_t> opt_int(const std::string& key) const;
  std::optional<double> opt_float(const std::string& key) const;
};

// Parses a whole GGUF image in memory; every count, size and offset is checked against `size`.
// Views point into `data`, which must outlive the result. Errors name `path` and the item.
GgufFile parse_gguf(const uint8_t* data, size_t size, const std::string& path);

// Maps `path` into `store` and adds every tensor under its Hugging Face name for the file's
// architecture (tensors without an HF counterpart, like rope_freqs, stay only in the result).
GgufFile load_gguf_checkpoint(const std::string& path, WeightStore& store);

// Tensor name mapping for archs "exaone4", "exaone" and "exaone-moe" (spec §4.3); empty when unmapped.
// exaone-moe's stacked experts map to internal names model.layers.N.mlp.experts.{gate,up,down}_exps.weight
// ([E, rows, cols]), its router bias blk.N.exp_probs_b.bias to model.layers.N.mlp.gate.e_score_correction_bias.
std::string gguf_to_hf_name(const std::string& arch, const std::string& gguf_name);
std::string hf_to_gguf_name(const std::string& arch, const std::string& hf_name);
// The MTP layer (mtp.*, exaone-moe) as llama.cpp's NextN block after the `n_main` main layers:
// mtp.layers.0.X -> blk.<n_main>.<X's layer name>, mtp.fc -> blk.<n_main>.nextn.eh_proj,
// mtp.pre_fc_norm_embedding / pre_fc_norm_hidden / norm -> nextn.enorm / hnorm / shared_head_norm.
std::string hf_mtp_to_gguf_name(const std::string& arch, const std::string& hf_name, int64_t n_main);
std::string gguf_to_hf_mtp_name(const std::string& arch, const std::string& gguf_name, int64_t n_main);

// Builds a GGUF v3 file. Tensors are written in the order added, each aligned.
class GgufWriter {
 public:
  void set(const std::string& key, GgufType type, json value);
  void set_array(const std::string& key, GgufType elem_type, json values);
  // `shape` in PyTorch order; `bytes` must hold exactly the tensor in `dtype`.
  void add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
  uint64_t alignment() const { return alignment_; }
  std::vector<uint8_t> serialize() const;
  // Writes to `path` (through a temporary file renamed into place).
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
  uint64_t alignment_ = 32;
};

}  // namespace exaone

// The set of named weight tensors of one checkpoint, whatever file format they came from.
// Files stay memory-mapped for the store's lifetime; TensorViews point into them.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loaders/tensor.h"
#include "util/mapped_file.h"

namespace exaone {

class WeightStore {
 public:
  // Keeps a mapping alive and returns it (loaders add their tensors afterwards).
  const MappedFile& add_file(MappedFile file);
  // Adds a tensor; a second tensor with the same name is an error naming both files.
  void add(TensorView t);

  const TensorView* find(const std::string& name) const;
  // The tensor `name` with exactly `shape`; otherwise an Error naming tensor, file and shapes.
  const TensorView& require(const std::string& name, const std::vector<int64_t>& shape) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  // Renames every tensor to `to(name)`; tensors it maps to "" leave the store (their file stays
  // mapped). For checkpoints that nest the language model under a prefix (EXAONE 4.5).
  void rename(const std::function<std::string(const std::string&)>& to);
  size_t total_bytes() const;
  // Tells the kernel that [p, p + n) of a mapped file will not be read again (after its tensor
  // was copied into another layout), so its pages leave resident memory. Reads still work: they
  // fault the pages back in from the file. No-op for memory this store did not map.
  void release_pages(const void* p, size_t n) const;

 private:
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, TensorView> tensors_;
};

}  // namespace exaone

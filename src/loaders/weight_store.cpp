#include "loaders/weight_store.h"

#include "util/error.h"

namespace exaone {

const MappedFile& WeightStore::add_file(MappedFile file) {
  files_.push_back(std::make_unique<MappedFile>(std::move(file)));
  return *files_.back();
}

void WeightStore::add(TensorView t) {
  auto [it, inserted] = tensors_.emplace(t.name, t);
  if (!inserted) fail(t.file + ": tensor '" + t.name + "' also appears in " + it->second.file);
}

const TensorView* WeightStore::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& WeightStore::require(const std::string& name, const std::vector<int64_t>& shape) const {
  const TensorView* t = find(name);
  if (!t) fail("missing tensor '" + name + "' in the checkpoint");
  if (t->shape != shape) {
    TensorView want;
    want.shape = shape;
    fail(t->file + ": tensor '" + name + "' has shape " + t->shape_str() + ", config expects " + want.shape_str());
  }
  return *t;
}

size_t WeightStore::total_bytes() const {
  size_t n = 0;
  for (const auto& [name, t] : tensors_) n += t.nbytes;
  return n;
}

}  // namespace exaone

#include "loaders/weight_store.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

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

void WeightStore::rename(const std::function<std::string(const std::string&)>& to) {
  std::map<std::string, TensorView> renamed;
  for (auto& [name, t] : tensors_) {
    std::string n = to(name);
    if (n.empty()) continue;
    TensorView v = t;
    v.name = n;
    auto [it, inserted] = renamed.emplace(n, std::move(v));
    if (!inserted) fail(t.file + ": tensors '" + name + "' and another both name '" + n + "'");
  }
  tensors_ = std::move(renamed);
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

void WeightStore::release_pages(const void* p, size_t n) const {
  const auto* b = static_cast<const uint8_t*>(p);
  for (const auto& f : files_) {
    if (!f->data() || b < f->data() || b + n > f->data() + f->size()) continue;
    // Only whole pages inside the range: neighbouring tensors may share its first and last page.
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t lo = (reinterpret_cast<uintptr_t>(b) + page - 1) & ~(page - 1);
    const uintptr_t hi = (reinterpret_cast<uintptr_t>(b) + n) & ~(page - 1);
    // A private read-only file mapping: dropped pages are read back from the file if touched.
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    return;
  }
}

}  // namespace exaone

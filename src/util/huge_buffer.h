// Large read-mostly buffers (repacked weights, the bandwidth probe) backed by transparent huge
// pages where the kernel allows them.
//
// Why: decode streams every weight once per token. With 4 KiB pages that is a TLB miss every 64
// cache lines; with 2 MiB pages the same read measured 5-20% more bandwidth on 2 cores (THP in
// "madvise" mode, where memory gets huge pages only when asked).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace exaone {

struct HugeBufferFree {
  void operator()(uint8_t* p) const;
};
using HugeBuffer = std::unique_ptr<uint8_t[], HugeBufferFree>;

// Uninitialised; from 2 MiB up, 2 MiB aligned and advised MADV_HUGEPAGE, below that 64-byte aligned.
// Throws Error if memory runs out.
HugeBuffer allocate_huge(size_t bytes);

// A std::vector allocator on allocate_huge, for buffers that grow: KV caches. Decode at depth reads
// one head's 128-256 bytes of every cached row, rows a whole KV row (1-2 KiB) apart, so with 4 KiB
// pages nearly every other row cost a TLB miss (attention at depth 2048: 13% less CPU time on huge pages).
template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}
  T* allocate(size_t n) { return reinterpret_cast<T*>(allocate_huge(n * sizeof(T)).release()); }
  void deallocate(T* p, size_t) { HugeBufferFree()(reinterpret_cast<uint8_t*>(p)); }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
};

}  // namespace exaone

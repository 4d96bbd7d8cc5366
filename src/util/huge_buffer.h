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

}  // namespace exaone

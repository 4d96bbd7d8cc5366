#include "util/huge_buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "util/error.h"

namespace exaone {

void HugeBufferFree::operator()(uint8_t* p) const { std::free(p); }

HugeBuffer allocate_huge(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  // Under one huge page: cache-line aligned small pages (a huge page would waste most of itself).
  const size_t align = bytes < kHuge ? 64 : kHuge;
  const size_t rounded = (std::max<size_t>(bytes, 1) + align - 1) / align * align;  // as aligned_alloc requires
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(align, rounded));
  if (!p) fail("cannot allocate " + std::to_string(bytes) + " bytes");
#ifdef MADV_HUGEPAGE
  if (align == kHuge) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: without THP the buffer simply has small pages
#endif
  return HugeBuffer(p);
}

}  // namespace exaone

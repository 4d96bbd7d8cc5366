// Huge-page buffers: alignment by size, every byte writable, any size (zero included) allocates.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "util/huge_buffer.h"

namespace exaone {
namespace {

TEST(HugeBuffer, AlignedAndWritableAtEverySize) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}, (size_t{2} << 20) - 1, size_t{2} << 20, (size_t{5} << 20) + 3}) {
    HugeBuffer b = allocate_huge(bytes);
    ASSERT_NE(b.get(), nullptr) << bytes;
    const auto addr = reinterpret_cast<uintptr_t>(b.get());
    EXPECT_EQ(addr % 64, 0u) << bytes;
    if (bytes >= (size_t{2} << 20)) {
      EXPECT_EQ(addr % (size_t{2} << 20), 0u) << bytes;
    }
    std::memset(b.get(), 0xab, bytes);
    if (bytes > 0) {
      EXPECT_EQ(b[bytes - 1], 0xab);
    }
  }
}

}  // namespace
}  // namespace exaone

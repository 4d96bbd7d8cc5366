// The thread pool behind the kernels: every index exactly once, chunk bounds kept, nested calls,
// exceptions, thread-count changes, and many back-to-back loops (the decode pattern).
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "util/parallel.h"

namespace exaone {
namespace {

struct ThreadsGuard {  // restores the thread count for the other tests
  int before = num_threads();
  ~ThreadsGuard() { set_num_threads(before); }
};

TEST(Parallel, CoversEveryIndexOnceWithinChunkBounds) {
  ThreadsGuard guard;
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    EXPECT_EQ(num_threads(), threads);
    for (int64_t n : {0, 1, 7, 64, 1000, 4097})
      for (int64_t chunk : {1, 3, 64, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<bool> bad_range{false};
        parallel_for(n, chunk, [&](int64_t b, int64_t e) {
          if (b < 0 || e > n || b >= e || e - b > chunk) bad_range = true;
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
        EXPECT_FALSE(bad_range) << "n=" << n << " chunk=" << chunk;
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n << " i=" << i;
      }
  }
}

TEST(Parallel, ManyShortLoopsInARow) {
  ThreadsGuard guard;
  set_num_threads(2);
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 20000; ++rep)
    parallel_for(16, 1, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
  EXPECT_EQ(sum.load(), 20000 * 16);
}

TEST(Parallel, NestedCallsRunSerially) {
  ThreadsGuard guard;
  set_num_threads(4);
  std::atomic<int64_t> sum{0};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      parallel_for(100, 7, [&](int64_t b2, int64_t e2) { sum.fetch_add(e2 - b2); });
  });
  EXPECT_EQ(sum.load(), 800);
}

TEST(Parallel, ExceptionReachesTheCaller) {
  ThreadsGuard guard;
  set_num_threads(3);
  EXPECT_THROW(parallel_for(100, 1,
                            [&](int64_t b, int64_t) {
                              if (b == 57) throw std::runtime_error("chunk 57");
                            }),
               std::runtime_error);
  std::atomic<int64_t> sum{0};  // the pool still works afterwards
  parallel_for(100, 1, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
  EXPECT_EQ(sum.load(), 100);
}

TEST(Parallel, CallersFromSeveralThreads) {
  ThreadsGuard guard;
  set_num_threads(2);
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 500; ++rep) parallel_for(32, 2, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(sum.load(), 4 * 500 * 32);
}

TEST(Parallel, BalancedChunk) {
  ThreadsGuard guard;
  set_num_threads(2);
  EXPECT_EQ(balanced_chunk(128, 1, 8), 8);
  EXPECT_EQ(balanced_chunk(10, 4, 8), 4);
  EXPECT_EQ(balanced_chunk(0, 1, 8), 1);
}

}  // namespace
}  // namespace exaone

// A persistent pool of worker threads for the kernels: parallel_for splits [0, n) into chunks that
// threads claim one at a time.
//
// Why not OpenMP's static schedule: a decode step runs ~250 parallel loops, and with a static split
// every loop waits for its slowest thread. On a shared machine a descheduled thread stalls the loop
// for a whole scheduler tick, which made decode up to 10x slower. Here chunks are claimed
// dynamically, the caller works too, and a loop ends when its chunks are done: a thread that
// wakes late finds nothing left and is not waited for.
#pragma once
#include <cstdint>
#include <type_traits>

namespace exaone {

// Threads used by parallel_for, the caller included. Default: $EXAONE_THREADS, else
// $OMP_NUM_THREADS, else the number of CPUs the process may run on.
int num_threads();
// Sets the thread count (>= 1) for parallel_for and for the remaining OpenMP code.
void set_num_threads(int n);

namespace detail {
using ChunkFn = void (*)(void* ctx, int64_t begin, int64_t end);
void run_chunks(int64_t n, int64_t chunk, ChunkFn fn, void* ctx);
}  // namespace detail

// Calls fn(begin, end) over disjoint ranges covering [0, n), each at most `chunk` long, from the
// pool's threads and the caller. Returns when all are done. Nested calls (from inside fn) run
// serially on the calling thread. An exception thrown by fn is rethrown here (the first one).
template <typename Fn>
void parallel_for(int64_t n, int64_t chunk, Fn&& fn) {
  if (n <= 0) return;
  using F = std::remove_reference_t<Fn>;
  auto trampoline = [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); };
  detail::run_chunks(n, chunk < 1 ? 1 : chunk, trampoline, const_cast<void*>(static_cast<const void*>(&fn)));
}

// A chunk size that gives each thread about `per_thread` chunks (load balance) of at least `min_chunk`.
int64_t balanced_chunk(int64_t n, int64_t min_chunk = 1, int per_thread = 8);

}  // namespace exaone

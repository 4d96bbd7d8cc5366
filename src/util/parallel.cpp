#include "util/parallel.h"

#include <sched.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace exaone {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

int env_threads(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (end && *end == '\0' && n >= 1 && n <= 4096) ? static_cast<int>(n) : 0;
}

int default_threads() {
  if (int n = env_threads("EXAONE_THREADS")) return n;
  if (int n = env_threads("OMP_NUM_THREADS")) return n;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// How long an idle worker spins before it sleeps: longer than the serial gaps between the loops
// of one decode step, short enough not to hold a core when nothing runs.
constexpr auto kSpinTime = std::chrono::microseconds(300);

thread_local bool t_in_pool = false;  // nested parallel_for runs serially

class Pool {
 public:
  static Pool& get() {
    static Pool pool;
    return pool;
  }
  ~Pool() { stop_workers(); }

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void resize(int n) {
    std::lock_guard<std::mutex> lk(run_mutex_);
    if (n == threads()) return;
    stop_workers();
    threads_.store(n, std::memory_order_relaxed);
  }

  void run(int64_t n, int64_t chunk, detail::ChunkFn fn, void* ctx) {
    // Chunk indices live in the low 32 bits of next_.
    chunk = std::max(chunk, (n + (int64_t{1} << 30) - 1) >> 30);
    const int64_t n_chunks = (n + chunk - 1) / chunk;
    if (t_in_pool || threads() <= 1 || n_chunks <= 1) {
      for (int64_t b = 0; b < n; b += chunk) fn(ctx, b, std::min(n, b + chunk));
      return;
    }
    std::lock_guard<std::mutex> lk(run_mutex_);  // one loop at a time; other callers queue here
    if (static_cast<int>(workers_.size()) != threads() - 1) start_workers(threads() - 1);
    error_ = nullptr;
    uint32_t g = gen_.load(std::memory_order_relaxed) + 1;
    if (g == 0) g = 1;
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    chunk_.store(chunk, std::memory_order_relaxed);
    n_chunks_.store(n_chunks, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    next_.store(uint64_t{g} << 32, std::memory_order_release);
    gen_.store(g, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) gen_.notify_all();

    t_in_pool = true;
    claim_and_run(g);
    t_in_pool = false;
    // Chunks claimed by others may still run. Spin briefly, then yield so that a descheduled
    // worker holding a chunk can run on this core.
    for (int spins = 0; done_.load(std::memory_order_acquire) < n_chunks; ++spins) {
      if (spins < 4096) cpu_relax();
      else std::this_thread::yield();
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  Pool() : threads_(default_threads()) {}

  // Claims and runs chunks of job `g` until none are left (or the job is no longer current).
  void claim_and_run(uint32_t g) {
    uint64_t cur = next_.load(std::memory_order_acquire);
    for (;;) {
      if (static_cast<uint32_t>(cur >> 32) != g) return;
      const int64_t idx = static_cast<int64_t>(cur & 0xffffffffu);
      if (idx >= n_chunks_.load(std::memory_order_relaxed)) return;
      if (!next_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      // The job cannot change until this chunk is reported done, so its fields are stable now.
      const int64_t n = n_.load(std::memory_order_relaxed), chunk = chunk_.load(std::memory_order_relaxed);
      const int64_t b = idx * chunk;
      try {
        fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), b, std::min(n, b + chunk));
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_release);
      cur = next_.load(std::memory_order_acquire);
    }
  }

  void worker_main(uint32_t seen) {
    t_in_pool = true;
    for (;;) {
      uint32_t g = gen_.load(std::memory_order_acquire);
      const auto start = std::chrono::steady_clock::now();
      for (int i = 1; g == seen && !stop_.load(std::memory_order_relaxed); ++i) {
        cpu_relax();
        if ((i & 255) == 0 && std::chrono::steady_clock::now() - start > kSpinTime) {
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          while ((g = gen_.load(std::memory_order_seq_cst)) == seen && !stop_.load(std::memory_order_relaxed))
            gen_.wait(seen, std::memory_order_seq_cst);
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
          break;
        }
        g = gen_.load(std::memory_order_acquire);
      }
      if (stop_.load(std::memory_order_relaxed)) return;
      seen = g;
      claim_and_run(g);
    }
  }

  void start_workers(int n) {
    stop_.store(false);
    const uint32_t seen = gen_.load();
    for (int i = 0; i < n; ++i) workers_.emplace_back([this, seen] { worker_main(seen); });
  }

  void stop_workers() {
    if (workers_.empty()) return;
    stop_.store(true, std::memory_order_seq_cst);
    gen_.fetch_add(1, std::memory_order_seq_cst);
    gen_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::atomic<int> threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  // The current job, published by gen_ (and next_, whose high half is the job's generation).
  std::atomic<uint32_t> gen_{0};
  std::atomic<uint64_t> next_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<detail::ChunkFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int64_t> n_{0}, chunk_{1}, n_chunks_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace

int num_threads() { return Pool::get().threads(); }

void set_num_threads(int n) {
  n = std::max(1, n);
  Pool::get().resize(n);
#ifdef _OPENMP  // builds without OpenMP (the fuzz targets) have only the pool
  omp_set_num_threads(n);
#endif
}

int64_t balanced_chunk(int64_t n, int64_t min_chunk, int per_thread) {
  const int64_t parts = static_cast<int64_t>(num_threads()) * std::max(1, per_thread);
  return std::max<int64_t>(std::max<int64_t>(1, min_chunk), (n + parts - 1) / parts);
}

namespace detail {
void run_chunks(int64_t n, int64_t chunk, ChunkFn fn, void* ctx) { Pool::get().run(n, chunk, fn, ctx); }
}  // namespace detail

}  // namespace exaone

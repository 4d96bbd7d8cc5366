#include "train/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "util/error.h"

#ifdef EXAONE_HAVE_MPI
// The C API only (the C++ bindings are deprecated and warn).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>
#endif

namespace exaone::train {

namespace {

// Launcher variables: Open MPI (OMPI_*), PMIx (Open MPI 4+, Slurm with --mpi=pmix), MPICH's hydra (PMI_*).
int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return (end && *end == '\0' && x > 0) ? static_cast<int>(x) : -1;
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

#ifdef EXAONE_HAVE_MPI
void finalize_mpi() {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fail(std::string("MPI: ") + what + " failed: " + std::string(msg, static_cast<size_t>(len)));
  }
}
#endif

}  // namespace

bool DataParallel::built_with_mpi() {
#ifdef EXAONE_HAVE_MPI
  return true;
#else
  return false;
#endif
}

int DataParallel::launcher_world_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (int n = env_int(v); n > 0) return n;
  return launched_by_mpi() ? 0 : 1;  // 0: launched, size unknown until MPI says
}

int DataParallel::launcher_local_size() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMIX_LOCAL_SIZE"})
    if (int n = env_int(v); n > 0) return n;
  return 1;
}

DataParallel& DataParallel::single() {
  static DataParallel one(0, 1, false);
  return one;
}

DataParallel& DataParallel::world() {
  static std::unique_ptr<DataParallel> w;
  if (w) return *w;
  if (!launched_by_mpi()) return single();
#ifdef EXAONE_HAVE_MPI
  int provided = 0;
  // Only the main thread talks to MPI; the thread pool computes between the calls.
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  std::atexit(finalize_mpi);
  // Errors come back as codes (turned into exaone::Error above) instead of killing the job silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  w.reset(new DataParallel(rank, size, true));
  return *w;
#else
  if (launcher_world_size() != 1)
    fail("this exaone was built without MPI, so it cannot train across the " +
         (launcher_world_size() > 1 ? std::to_string(launcher_world_size()) + " " : std::string()) +
         "processes mpirun started (each would train the same batches alone); install OpenMPI "
         "(libopenmpi-dev, scripts/install-deps.sh) and rebuild, or run without mpirun");
  return single();
#endif
}

void DataParallel::barrier() const {
#ifdef EXAONE_HAVE_MPI
  if (mpi_) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void DataParallel::abort(int code) const {
#ifdef EXAONE_HAVE_MPI
  if (mpi_) {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
  }
#endif
  std::exit(code);
}

void DataParallel::allgather(double mine, std::vector<double>& all) const {
  all.assign(static_cast<size_t>(size_), mine);
#ifdef EXAONE_HAVE_MPI
  if (mpi_) check(MPI_Allgather(&mine, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD), "MPI_Allgather");
#endif
}

void DataParallel::check_same(uint64_t value, const std::string& what) const {
  if (!distributed()) return;
#ifdef EXAONE_HAVE_MPI
  std::vector<uint64_t> all(static_cast<size_t>(size_));
  check(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD), "MPI_Allgather");
  for (int r = 1; r < size_; ++r)
    if (all[static_cast<size_t>(r)] != all[0])
      fail("data parallel: " + what + " differs between rank 0 and rank " + std::to_string(r) +
           " (every rank must start from the same files and options)");
#endif
}

void DataParallel::alltoallv(const float* send, const int* send_counts, const int* send_displs, float* recv,
                             const int* recv_counts, const int* recv_displs) const {
#ifdef EXAONE_HAVE_MPI
  check(MPI_Alltoallv(send, send_counts, send_displs, MPI_FLOAT, recv, recv_counts, recv_displs, MPI_FLOAT,
                      MPI_COMM_WORLD),
        "MPI_Alltoallv");
#else
  fail("data parallel: alltoallv without MPI");
#endif
}

void DataParallel::allgatherv(const float* send, int count, float* recv, const int* counts, const int* displs) const {
#ifdef EXAONE_HAVE_MPI
  check(MPI_Allgatherv(send, count, MPI_FLOAT, recv, counts, displs, MPI_FLOAT, MPI_COMM_WORLD), "MPI_Allgatherv");
#else
  fail("data parallel: allgatherv without MPI");
#endif
}

// ---- GradientReducer ----

GradientReducer::GradientReducer(std::vector<Param>& params, const DataParallel& dp, size_t bucket_floats)
    : params_(params), dp_(dp) {
  size_t total = 0;
  for (const Param& p : params_) {
    offsets_.push_back(total);
    total += p.g.size();
  }
  if (!dp_.distributed()) {
    local_.resize(params_.size());
    for (size_t i = 0; i < params_.size(); ++i) local_[i].resize(params_[i].g.size());
    return;
  }
  const size_t R = static_cast<size_t>(dp_.size()), me = static_cast<size_t>(dp_.rank());
  bucket_floats = std::max<size_t>(bucket_floats, R);
  bucket_floats = std::min<size_t>(bucket_floats, size_t{1} << 30);  // MPI counts are int
  size_t owned = 0;
  for (size_t b = 0; b < total; b += bucket_floats) {
    Bucket k;
    k.begin = b;
    k.size = std::min(bucket_floats, total - b);
    for (size_t j = 0; j < R; ++j) {
      const size_t lo = k.size * j / R, hi = k.size * (j + 1) / R;
      k.counts.push_back(static_cast<int>(hi - lo));
      k.displs.push_back(static_cast<int>(lo));
    }
    k.owned = owned;
    owned += static_cast<size_t>(k.counts[me]);
    buckets_.push_back(std::move(k));
  }
  acc_.resize(owned);
  send_.resize(std::min(bucket_floats, total));
  recv_.resize(std::min(bucket_floats, total));
}

void GradientReducer::gather_flat(size_t begin, size_t n, float* out) const {
  // Parameters overlapping [begin, begin+n), in order.
  size_t i = static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), begin) - offsets_.begin()) - 1;
  for (size_t pos = begin; pos < begin + n; ++i) {
    const std::vector<float>& g = params_[i].g;
    const size_t from = pos - offsets_[i], len = std::min(g.size() - from, begin + n - pos);
    std::memcpy(out + (pos - begin), g.data() + from, len * sizeof(float));
    pos += len;
  }
}

void GradientReducer::scatter_flat(size_t begin, size_t n, const float* in) {
  size_t i = static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), begin) - offsets_.begin()) - 1;
  for (size_t pos = begin; pos < begin + n; ++i) {
    std::vector<float>& g = params_[i].g;
    const size_t from = pos - offsets_[i], len = std::min(g.size() - from, begin + n - pos);
    std::memcpy(g.data() + from, in + (pos - begin), len * sizeof(float));
    pos += len;
  }
}

void GradientReducer::begin() { started_ = false; }

void GradientReducer::add_round(int64_t round, int64_t accum) {
  if (!dp_.distributed()) {
    // The running sum lives in local_; the first micro-batch's gradient is swapped in (no copy),
    // later ones are added in order.
    for (size_t i = 0; i < params_.size(); ++i) {
      std::vector<float>& g = params_[i].g;
      if (!started_) {
        std::swap(local_[i], g);
      } else {
        float* a = local_[i].data();
        const float* x = g.data();
        for (size_t e = 0, n = g.size(); e < n; ++e) a[e] += x[e];
      }
    }
    started_ = true;
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int R = dp_.size();
  // Ranks 0 .. present-1 ran micro-batches round·R + rank this round (a prefix: the last round may be short).
  const int present = static_cast<int>(std::min<int64_t>(R, accum - round * R));
  const bool mine = dp_.rank() < present;
  std::vector<int> send_counts(static_cast<size_t>(R)), recv_counts(static_cast<size_t>(R)),
      recv_displs(static_cast<size_t>(R));
  for (const Bucket& b : buckets_) {
    const int own = b.counts[static_cast<size_t>(dp_.rank())];
    for (int j = 0; j < R; ++j) {
      send_counts[static_cast<size_t>(j)] = mine ? b.counts[static_cast<size_t>(j)] : 0;
      recv_counts[static_cast<size_t>(j)] = j < present ? own : 0;
      recv_displs[static_cast<size_t>(j)] = j * own;
    }
    if (mine) gather_flat(b.begin, b.size, send_.data());
    dp_.alltoallv(send_.data(), send_counts.data(), b.displs.data(), recv_.data(), recv_counts.data(),
                  recv_displs.data());
    // Contributions in rank order = micro-batch order, onto the running sum.
    float* a = acc_.data() + b.owned;
    for (int j = 0; j < present; ++j) {
      const float* x = recv_.data() + static_cast<size_t>(j) * static_cast<size_t>(own);
      if (!started_ && j == 0)
        std::memcpy(a, x, static_cast<size_t>(own) * sizeof(float));
      else
        for (int e = 0; e < own; ++e) a[e] += x[e];
    }
  }
  started_ = true;
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void GradientReducer::finish() {
  if (!started_) fail("GradientReducer::finish without a round");
  if (!dp_.distributed()) {
    for (size_t i = 0; i < params_.size(); ++i) std::swap(local_[i], params_[i].g);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (const Bucket& b : buckets_) {
    dp_.allgatherv(acc_.data() + b.owned, b.counts[static_cast<size_t>(dp_.rank())], recv_.data(), b.counts.data(),
                   b.displs.data());
    scatter_flat(b.begin, b.size, recv_.data());
  }
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace exaone::train

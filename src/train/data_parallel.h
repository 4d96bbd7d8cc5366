// Data-parallel training over MPI: the process group and the gradient reduction.
//
// One `exaone` binary serves both cases. MPI is initialised only when the process was started by an
// MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE / PMIX_RANK / PMI_RANK); a plain run never calls
// into MPI. A build without MPI refuses a launch with several ranks instead of training the same
// batches R times.
//
// Determinism: the gradient of a step is the sum of its micro-batch gradients g_0 … g_{A-1} taken in
// micro-batch order, ((g_0 + g_1) + g_2) + …, however many processes computed them. Micro-batch k
// runs on rank k mod R in round k / R; in each round every rank sends each owner its slice of the
// micro-batch gradient (a reduce-scatter done as an all-to-all), the owner adds the R contributions
// in rank order = micro-batch order onto its running sum, and after the last round the owned sums
// are all-gathered. So `mpirun -np R` gives the same bits as one process with the same --accum
// (the single-process path sums the same way), and a run may be resumed with another rank count.
// The price: one exchange per round instead of one per step (the same volume as a ring all-reduce
// when each rank has one micro-batch per step).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "train/model.h"

namespace exaone::train {

class DataParallel {
 public:
  // The group of this process: MPI_COMM_WORLD when started by an MPI launcher (MPI is initialised
  // on the first call and finalised at exit), otherwise a group of one. Error when the launcher
  // started several ranks and this build has no MPI.
  static DataParallel& world();
  // A group of one, without MPI (tests, library users).
  static DataParallel& single();

  static bool built_with_mpi();
  // Ranks the launcher says were started (1 when not launched by one).
  static int launcher_world_size();
  // Ranks of this job on this machine (for the default thread count), 1 when unknown.
  static int launcher_local_size();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }

  void barrier() const;
  // Ends the whole job (every rank) with this exit code; a plain exit would leave the other ranks
  // waiting in a collective.
  [[noreturn]] void abort(int code) const;
  // all[r] = mine of rank r.
  void allgather(double mine, std::vector<double>& all) const;
  // Error on every rank, naming `what`, when `value` is not the same on all ranks.
  void check_same(uint64_t value, const std::string& what) const;

  // Raw exchange used by GradientReducer (MPI only; never called on a group of one).
  void alltoallv(const float* send, const int* send_counts, const int* send_displs, float* recv,
                 const int* recv_counts, const int* recv_displs) const;
  void allgatherv(const float* send, int count, float* recv, const int* counts, const int* displs) const;

 private:
  DataParallel(int rank, int size, bool mpi) : rank_(rank), size_(size), mpi_(mpi) {}
  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
};

// Sums the micro-batch gradients of a step in micro-batch order across the group (see above).
// Use per step: begin(); for each round: zero_grad, forward_backward of this rank's micro-batch (if
// any), add_round(round, accum); then finish() leaves the summed gradient in every rank's Param::g.
class GradientReducer {
 public:
  // bucket_floats: elements exchanged per message (the flat gradient is cut into buckets so that
  // the buffers stay small; each bucket is split evenly between the ranks' owned slices).
  GradientReducer(std::vector<Param>& params, const DataParallel& dp, size_t bucket_floats = size_t{1} << 22);

  // Rounds a step of `accum` micro-batches takes, and the micro-batch this rank runs in a round
  // (-1: none, when accum is not a multiple of the group size).
  int64_t rounds(int64_t accum) const { return (accum + dp_.size() - 1) / dp_.size(); }
  int64_t micro_of(int64_t round, int64_t accum) const {
    const int64_t k = round * dp_.size() + dp_.rank();
    return k < accum ? k : -1;
  }

  void begin();
  void add_round(int64_t round, int64_t accum);
  void finish();

  // Seconds spent in exchanges (and the packing around them) since construction.
  double comm_seconds() const { return comm_seconds_; }

 private:
  struct Bucket {
    size_t begin = 0, size = 0;      // range of the flat gradient
    std::vector<int> counts, displs;  // slice of each rank within the bucket
    size_t owned = 0;                 // offset of this rank's slice in acc_
  };
  void gather_flat(size_t begin, size_t n, float* out) const;
  void scatter_flat(size_t begin, size_t n, const float* in);

  std::vector<Param>& params_;
  const DataParallel& dp_;
  std::vector<size_t> offsets_;             // flat offset of each parameter
  std::vector<Bucket> buckets_;
  std::vector<float> acc_;                  // owned running sums (distributed)
  std::vector<std::vector<float>> local_;   // the running sum itself (group of one)
  std::vector<float> send_, recv_;
  bool started_ = false;
  double comm_seconds_ = 0;
};

}  // namespace exaone::train

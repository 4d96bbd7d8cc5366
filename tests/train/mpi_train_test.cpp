// Data-parallel `exaone train` under `mpirun -np 2` on this machine: the same weights and loss
// curve, bit for bit, as one process with the same global batch (--accum micro-batches per step),
// and a run interrupted under MPI resumes in one process to the same end.
// MPI stays on shared memory and loopback (btl self,vader; TCP and the runtime's out-of-band channel
// on lo only). Skipped, with the reason, when mpirun or an MPI build is missing.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "run_exaone.h"
#include "train/data_parallel.h"

namespace exaone::train {
namespace {

namespace fs = std::filesystem;

int sh(const std::string& cmd, const fs::path& err_file, std::string* err) {
  const int status = std::system((cmd + " >/dev/null 2>" + err_file.string()).c_str());
  *err = slurp(err_file);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

// Loopback and shared memory only; root allowed (CI runs as root); more ranks than cores allowed.
const char* kMpirun =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_tcp_if_include=lo "
    "OMPI_MCA_oob_tcp_if_include=lo mpirun --oversubscribe --bind-to none -np ";

// step,loss columns of loss.csv (tokens/s differ run to run).
std::string losses(const std::string& csv) {
  std::stringstream in(csv), out;
  std::string line;
  while (std::getline(in, line)) out << line.substr(0, line.find(',', line.find(',') + 1)) << "\n";
  return out.str();
}

class MpiTrain : public testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(EXAONE_BINARY)) GTEST_SKIP() << "exaone binary not built";
    if (!DataParallel::built_with_mpi()) GTEST_SKIP() << "built without MPI (install libopenmpi-dev and rebuild)";
    if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (apt-get install openmpi-bin)";
    dir_ = fs::path(testing::TempDir()) / ("exaone_mpi_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream tok(dir_ / "tokens.bin", std::ios::binary);
    for (int i = 0; i < 4000; ++i) {
      const int32_t t = (i % 11 == 10) ? 300 + (i / 11) % 13 : 20 + i % 11 * 7;
      tok.write(reinterpret_cast<const char*>(&t), 4);
    }
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // The tiny EXAONE 4.0 fixture as the starting point; one thread per process.
  std::string train_args(int accum, const std::string& out) const {
    return std::string(EXAONE_BINARY) + " train --init " + EXAONE_SOURCE_DIR + "/models/exaone4-tiny --unscreened --tokens " +
           (dir_ / "tokens.bin").string() + " --steps 4 --batch 2 --seq 16 --accum " + std::to_string(accum) +
           " --lr 3e-3 --warmup 1 -t 1 -o " + (dir_ / out).string();
  }
  fs::path dir_;
};

TEST_F(MpiTrain, TwoRanksGiveTheWeightsOfOneProcess) {
  std::string err;
  ASSERT_EQ(sh(train_args(4, "single"), dir_ / "err1.txt", &err), 0) << err;
  ASSERT_EQ(sh(kMpirun + std::string("2 ") + train_args(4, "mpi"), dir_ / "err2.txt", &err), 0) << err;
  EXPECT_NE(err.find("2 processes"), std::string::npos) << err;
  ASSERT_TRUE(fs::exists(dir_ / "mpi" / "model.safetensors")) << err;
  EXPECT_EQ(slurp(dir_ / "mpi" / "model.safetensors"), slurp(dir_ / "single" / "model.safetensors"));
  EXPECT_EQ(losses(slurp(dir_ / "mpi" / "loss.csv")), losses(slurp(dir_ / "single" / "loss.csv")));
  EXPECT_EQ(slurp(dir_ / "mpi" / "checkpoint" / "optimizer.safetensors"),
            slurp(dir_ / "single" / "checkpoint" / "optimizer.safetensors"));
}

// An odd --accum (the last round has one micro-batch), gradients cut into many small buckets with
// uneven slices, and a run stopped under MPI then resumed by one process: still the same bits.
TEST_F(MpiTrain, UnevenRoundsSmallBucketsAndResumeInOneProcess) {
  std::string err;
  ASSERT_EQ(sh(train_args(3, "single"), dir_ / "err1.txt", &err), 0) << err;
  const std::string part = train_args(3, "part");
  ASSERT_EQ(sh(kMpirun + std::string("2 ") + part + " --dp-bucket 1001 --stop-after 2", dir_ / "err2.txt", &err), 0)
      << err;
  ASSERT_EQ(sh(part + " --resume " + (dir_ / "part" / "checkpoint").string(), dir_ / "err3.txt", &err), 0) << err;
  EXPECT_EQ(slurp(dir_ / "part" / "model.safetensors"), slurp(dir_ / "single" / "model.safetensors"));
  EXPECT_EQ(losses(slurp(dir_ / "part" / "loss.csv")), losses(slurp(dir_ / "single" / "loss.csv")));
}

// A failure on the ranks (bad input) ends the whole job with exit code 2 instead of hanging.
TEST_F(MpiTrain, BadInputEndsEveryRank) {
  std::string err;
  const int rc = sh(kMpirun + std::string("2 ") + std::string(EXAONE_BINARY) +
                        " train --init " + EXAONE_SOURCE_DIR + "/models/exaone4-tiny --unscreened --tokens " +
                        (dir_ / "missing.bin").string() + " --steps 2 -t 1 -o " + (dir_ / "bad").string(),
                    dir_ / "err.txt", &err);
  EXPECT_NE(rc, 0) << err;
  EXPECT_NE(err.find("missing.bin"), std::string::npos) << err;
}

}  // namespace
}  // namespace exaone::train

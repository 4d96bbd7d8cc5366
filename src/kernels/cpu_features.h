// What the CPU we run on can do; kernels choose their implementation from this at run time
// (binaries stay portable: no -march=native).
#pragma once
#include <string>

namespace exaone {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vnni = false, avx512bf16 = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
  std::string summary() const;  // "avx2 fma f16c ..."
};

const CpuFeatures& cpu_features();

// Set EXAONE_KERNELS=scalar to force the portable reference kernels (tests, debugging).
bool force_scalar_kernels();
// Overrides the environment at run time (tests and benchmarks compare both paths in one process).
void set_force_scalar_kernels(bool on);

}  // namespace exaone

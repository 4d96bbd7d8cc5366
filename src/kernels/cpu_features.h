// What the CPU we run on can do; kernels choose their implementation from this at run time
// (binaries stay portable: no -march=native).
#pragma once
#include <string>

namespace exaone {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
  std::string summary() const;  // "avx2 fma f16c ..."
};

const CpuFeatures& cpu_features();

// Set EXAONE_KERNELS=scalar to force the portable reference kernels (tests, debugging).
bool force_scalar_kernels();
// Overrides the environment at run time (tests and benchmarks compare both paths in one process).
void set_force_scalar_kernels(bool on);

// The AVX-512 VNNI int8 kernels (ymm vpdpbusd) run when the CPU has AVX-512 F/BW/VL and VNNI, unless
// scalar kernels are forced or EXAONE_KERNELS=avx2 / set_force_avx2_kernels(true) keeps the AVX2
// ones (to compare both paths on one machine).
bool use_avx512vnni();
bool force_avx2_kernels();
void set_force_avx2_kernels(bool on);

}  // namespace exaone

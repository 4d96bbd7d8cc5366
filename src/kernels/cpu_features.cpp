#include "kernels/cpu_features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace exaone {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.fma = __builtin_cpu_supports("fma");
    unsigned a = 0, b = 0, cx = 0, d = 0;
    bool osxsave = false;
    if (__get_cpuid(1, &a, &b, &cx, &d)) {
      c.f16c = (cx >> 29) & 1;
      osxsave = (cx >> 27) & 1;
    }
    uint64_t xcr0 = 0;
    if (osxsave) {
      uint32_t lo, hi;
      __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
      xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
      // AMX also needs the OS to enable tile state (XCR0 bits 17-18); the per-process permission
      // request is made by the AMX kernels themselves before first use.
      const bool os_tiles = ((xcr0 >> 17) & 3) == 3;
      c.amx_bf16 = os_tiles && ((d >> 22) & 1);
      c.amx_tile = os_tiles && ((d >> 24) & 1);
      c.amx_int8 = os_tiles && ((d >> 25) & 1);
    }
    c.avx512f = __builtin_cpu_supports("avx512f");
    c.avx512bw = __builtin_cpu_supports("avx512bw");
    c.avx512vl = __builtin_cpu_supports("avx512vl");
    c.avx512vnni = __builtin_cpu_supports("avx512vnni");
#if defined(__GNUC__) && __GNUC__ >= 12
    c.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
#endif
    return c;
  }();
  return f;
}

std::string CpuFeatures::summary() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (on) s += (s.empty() ? "" : " ") + std::string(name);
  };
  add(avx2, "avx2");
  add(fma, "fma");
  add(f16c, "f16c");
  add(avx512f, "avx512f");
  add(avx512bw, "avx512bw");
  add(avx512vl, "avx512vl");
  add(avx512vnni, "avx512vnni");
  add(avx512bf16, "avx512bf16");
  add(amx_tile, "amx_tile");
  add(amx_int8, "amx_int8");
  add(amx_bf16, "amx_bf16");
  return s.empty() ? "baseline" : s;
}

namespace {
std::atomic<int>& scalar_override() {
  static std::atomic<int> v{-1};  // -1: follow EXAONE_KERNELS
  return v;
}
std::atomic<int>& avx2_override() {
  static std::atomic<int> v{-1};  // -1: follow EXAONE_KERNELS
  return v;
}
bool kernels_env_is(const char* name) {
  const char* e = std::getenv("EXAONE_KERNELS");
  return e && std::strcmp(e, name) == 0;
}
}  // namespace

bool force_scalar_kernels() {
  static const bool from_env = kernels_env_is("scalar");
  const int o = scalar_override().load(std::memory_order_relaxed);
  return o < 0 ? from_env : o != 0;
}

void set_force_scalar_kernels(bool on) { scalar_override().store(on ? 1 : 0, std::memory_order_relaxed); }

bool force_avx2_kernels() {
  static const bool from_env = kernels_env_is("avx2");
  const int o = avx2_override().load(std::memory_order_relaxed);
  return o < 0 ? from_env : o != 0;
}

bool use_avx512vnni() {
  const CpuFeatures& f = cpu_features();
  if (!(f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni && f.avx2 && f.fma && f.f16c)) return false;
  return !force_scalar_kernels() && !force_avx2_kernels();
}

void set_force_avx2_kernels(bool on) { avx2_override().store(on ? 1 : 0, std::memory_order_relaxed); }

}  // namespace exaone

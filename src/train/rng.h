// Small deterministic random numbers for training (initialisation, batch sampling): the same
// values on every platform and standard library, unlike std::normal_distribution.
#pragma once
#include <cmath>
#include <cstdint>

namespace exaone::train {

inline uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A stream keyed by (seed, stream): independent streams for parameters, steps, micro-batches.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) : s_(seed * 0xD1342543DE82EF95ull + stream) { splitmix64(s_); }
  uint64_t next() { return splitmix64(s_); }
  // Uniform in [0, 1) with 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  // Standard normal (Box-Muller; the second value is discarded to keep the stream simple).
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t s_;
};

}  // namespace exaone::train

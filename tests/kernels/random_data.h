// Random inputs shared by the kernel tests.
#pragma once
#include <random>
#include <vector>

namespace exaone::test {

// n normally distributed floats (mean 0, standard deviation `scale`).
inline std::vector<float> randn(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace exaone::test

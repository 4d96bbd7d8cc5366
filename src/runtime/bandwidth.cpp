#include "runtime/bandwidth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "util/error.h"
#include "util/huge_buffer.h"

namespace exaone {

namespace {

// Sums 64-bit words so the loads cannot be optimised away; four accumulators keep several
// cache lines in flight. The compiler vectorises this with the baseline SSE2 loads.
uint64_t sum_words_portable(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  return a ^ b ^ c ^ d;
}

#if defined(__x86_64__)
// 32-byte loads, two cache lines per iteration (the form a tuned matmul reads weights in).
__attribute__((target("avx2"))) uint64_t sum_words_avx2(const uint64_t* p, size_t n) {
  const __m256i* v = reinterpret_cast<const __m256i*>(p);
  const size_t lines = n / 8;  // 64-byte lines
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  size_t i = 0;
  for (; i + 2 <= lines; i += 2) {
    a = _mm256_add_epi64(a, _mm256_load_si256(v + 2 * i));
    b = _mm256_add_epi64(b, _mm256_load_si256(v + 2 * i + 1));
    c = _mm256_add_epi64(c, _mm256_load_si256(v + 2 * i + 2));
    d = _mm256_add_epi64(d, _mm256_load_si256(v + 2 * i + 3));
  }
  for (; i < lines; ++i) {
    a = _mm256_add_epi64(a, _mm256_load_si256(v + 2 * i));
    b = _mm256_add_epi64(b, _mm256_load_si256(v + 2 * i + 1));
  }
  __m256i s = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  alignas(32) uint64_t out[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), s);
  return out[0] ^ out[1] ^ out[2] ^ out[3];
}
#endif

uint64_t sum_words(const uint64_t* p, size_t n) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return sum_words_avx2(p, n);
#endif
  return sum_words_portable(p, n);
}

}  // namespace

BandwidthResult measure_read_bandwidth(size_t buffer_bytes, int threads, int passes) {
  if (threads < 1) fail("bandwidth: thread count must be at least 1, got " + std::to_string(threads));
  if (passes < 1) fail("bandwidth: pass count must be at least 1, got " + std::to_string(passes));
  constexpr size_t kLine = 64;
  // Each thread's slice is a whole number of 64-byte lines.
  const size_t unit = kLine * static_cast<size_t>(threads);
  buffer_bytes = std::max<size_t>(buffer_bytes, size_t{1} << 20) / unit * unit;
  // Huge pages, as the repacked weights have (util/huge_buffer.h), so the roofline compares like with like.
  const HugeBuffer buf = allocate_huge(buffer_bytes);
  auto* data = reinterpret_cast<uint64_t*>(buf.get());
  const size_t words_per_thread = buffer_bytes / 8 / static_cast<size_t>(threads);

  // First touch by the thread that later reads the slice (page placement on NUMA machines).
#pragma omp parallel num_threads(threads)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    uint64_t* p = data + t * words_per_thread;
    for (size_t i = 0; i < words_per_thread; ++i) p[i] = i * 0x9e3779b97f4a7c15ull + t;
  }

  BandwidthResult r;
  r.buffer_bytes = buffer_bytes;
  r.threads = threads;
  r.passes = passes;
  volatile uint64_t sink = 0;
  double total_s = 0, best_s = 1e300;
  for (int pass = -1; pass < passes; ++pass) {  // pass -1: warm-up (TLB, frequency)
    uint64_t acc = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(^ : acc)
    {
      const size_t t = static_cast<size_t>(omp_get_thread_num());
      acc ^= sum_words(data + t * words_per_thread, words_per_thread);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sink = sink ^ acc;
    if (pass < 0) continue;
    total_s += s;
    best_s = std::min(best_s, s);
  }
  (void)sink;
  r.best_gb_s = static_cast<double>(buffer_bytes) / best_s / 1e9;
  r.mean_gb_s = static_cast<double>(buffer_bytes) * passes / total_s / 1e9;
  return r;
}

size_t decode_weight_bytes_per_token(const Model& model) {
  const WeightStore& store = model.weights();
  const ModelConfig& c = model.config();
  // Routed experts: a token reads the chosen n_experts_used of each MoE layer's n_experts (stored
  // per expert, fused or stacked, their names all hold ".mlp.experts."). The MTP layer (mtp.*) is
  // not part of a plain decode step.
  double bytes = 0;
  for (const auto& [name, t] : store.tensors()) {
    if (name.compare(0, 4, "mtp.") == 0) continue;
    const bool expert = c.n_experts > 0 && name.find(".mlp.experts.") != std::string::npos;
    bytes += expert ? static_cast<double>(t.nbytes) * c.n_experts_used / c.n_experts : static_cast<double>(t.nbytes);
  }
  // Loaders expose Hugging Face names (GGUF names are mapped). The output matrix is the
  // embedding when tied or when lm_head is absent (models/model.cpp bind_lm_head).
  const TensorView* embed = store.find("model.embed_tokens.weight");
  if (!embed) embed = store.find("transformer.wte.weight");  // EXAONE 3.x
  const TensorView* head = store.find("lm_head.weight");
  if (embed && head) {
    if (c.tie_embeddings) {
      bytes -= static_cast<double>(head->nbytes);  // duplicate head is never read
    } else {
      // Separate head: the embedding contributes only the row it looks up.
      const int64_t rows = embed->rows();
      bytes -= static_cast<double>(embed->nbytes) - (rows > 0 ? static_cast<double>(embed->nbytes / rows) : 0.0);
    }
  }
  return static_cast<size_t>(bytes);
}

double matmul_params_per_token(const Model& model) {
  const WeightStore& store = model.weights();
  const ModelConfig& c = model.config();
  const bool has_head = store.find("lm_head.weight") != nullptr && !c.tie_embeddings;
  double n = 0;
  for (const auto& [name, t] : store.tensors()) {
    if (name.compare(0, 4, "mtp.") == 0 || t.shape.size() < 2) continue;  // MTP layer; norms and biases
    if (name == "lm_head.weight" && !has_head) continue;                    // tied duplicate
    if (has_head && (name == "model.embed_tokens.weight" || name == "transformer.wte.weight")) continue;  // a lookup
    const bool expert = c.n_experts > 0 && name.find(".mlp.experts.") != std::string::npos;
    n += expert ? static_cast<double>(t.numel()) * c.n_experts_used / c.n_experts : static_cast<double>(t.numel());
  }
  return n;
}

}  // namespace exaone

#include "kernels/kernel_paths.h"

#include "kernels/attention.h"
#include "kernels/gemm_prefill.h"
#include "kernels/gemm_train.h"
#include "kernels/interleaved.h"

namespace exaone {

std::vector<std::pair<std::string, std::string>> kernel_paths() {
  return {
      {"int8_matmul", interleaved_gemv_name()},           // packed quantised weights, decode and prefill
      {"float_prefill_gemm", gemm_prefill_name()},        // F32/F16/BF16 and dequantised panels, >= 48 tokens
      {"attention", attention_kernel_name()},             // decode and prefill, every KV cache type
      {"train_gemm_f32", gemm_train_name(GemmPrecision::F32)},
      {"train_gemm_bf16", gemm_train_name(GemmPrecision::BF16)},
  };
}

}  // namespace exaone

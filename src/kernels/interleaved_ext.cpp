// 8-row interleaved GEMVs for Q5_K and IQ4_XS (layouts in kernels/interleaved.h), AVX2 and
// AVX-512 VNNI. As for the other packed types, both kernels form the same exact integer block sums
// and take the same float steps, so their results are bit-identical.
#include <immintrin.h>

#include <cstring>

#include "kernels/interleaved.h"
#include "kernels/quant_dot.h"
#include "kernels/quant_ext.h"
#include "kernels/simd_avx2.h"

namespace exaone {

namespace {

using simd::load256;

#define EXAONE_AVX2 __attribute__((target("avx2,fma,f16c")))
#define EXAONE_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

// Prefetch distance as in kernels/interleaved.cpp (measured there on the decode GEMV).
constexpr int kPrefetchDistance = 1152;
EXAONE_AVX2 inline void prefetch_ahead(const void* block, size_t bytes) {
  const char* p = static_cast<const char*>(block) + kPrefetchDistance;
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

EXAONE_AVX2 inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// pshufb control: in every 32-bit lane, byte j0 of that lane zero-extended to the low int16 and j1
// to the high one.
EXAONE_AVX2 inline __m256i lane_bytes_to_pair(int j0, int j1) {
  alignas(32) uint8_t c[32];
  for (int i = 0; i < 32; ++i) {
    const int dword = (i % 16) / 4, pos = i % 4;
    c[i] = pos % 2 ? 0x80 : static_cast<uint8_t>(4 * dword + (pos == 0 ? j0 : j1));
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(c));
}

// pshufb control: in every 32-bit lane, byte j of that lane zero-extended to the whole lane.
EXAONE_AVX2 inline __m256i lane_byte_to_dword(int j) {
  alignas(32) uint8_t c[32];
  for (int i = 0; i < 32; ++i) c[i] = i % 4 ? 0x80 : static_cast<uint8_t>((i % 16) / 4 * 4 + j);
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(c));
}

// Q5_K's (and Q4_K's) per-row 6-bit scales and mins of sub-blocks 0-3 (lo) and 4-7 (hi), byte j of
// row r's lane, from the three packed scale words.
struct K4Scales {
  __m256i s_lo, s_hi, m_lo, m_hi;
};
EXAONE_AVX2 inline K4Scales k4_scales(const uint8_t* scales96) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), k6 = _mm256_set1_epi8(0x3f), k2 = _mm256_set1_epi8(0x03);
  const __m256i u0 = load256(scales96), u1 = load256(scales96 + 32), u2 = load256(scales96 + 64);
  K4Scales s;
  s.s_lo = _mm256_and_si256(u0, k6);
  s.m_lo = _mm256_and_si256(u1, k6);
  s.s_hi = _mm256_or_si256(_mm256_and_si256(u2, low4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(u0, 6), k2), 4));
  s.m_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(u2, 4), low4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(u1, 6), k2), 4));
  return s;
}

// 5-bit quants of 4 elements x 8 rows: nibbles of v plus bit `bit` of the rows' qh bytes.
EXAONE_AVX2 inline __m256i q5(__m256i nibbles, __m256i qh, int bit) {
  const __m256i one = _mm256_set1_epi8(1);
  return _mm256_or_si256(nibbles, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, bit), one), 4));
}

// Σ_j m_j S_j per row lane (S_j: sum of sub-block j's activations), as the Q4_K kernels do.
EXAONE_AVX2 inline __m256i k4_min_sums(const K4Scales& s, const int16_t* bsums, const __m256i* mins_of) {
  const __m256i mp[4] = {_mm256_shuffle_epi8(s.m_lo, mins_of[0]), _mm256_shuffle_epi8(s.m_lo, mins_of[1]),
                         _mm256_shuffle_epi8(s.m_hi, mins_of[0]), _mm256_shuffle_epi8(s.m_hi, mins_of[1])};
  const __m256i bs = load256(bsums);
  const __m256i sums = _mm256_broadcastsi128_si256(_mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)));
  __m256i summ = _mm256_madd_epi16(mp[0], _mm256_shuffle_epi32(sums, 0x00));
  summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mp[1], _mm256_shuffle_epi32(sums, 0x55)));
  summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mp[2], _mm256_shuffle_epi32(sums, 0xaa)));
  summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mp[3], _mm256_shuffle_epi32(sums, 0xff)));
  return summ;
}

// One block's value per row, in the scalar reference's order: d da Σ sc q y - dmin da Σ m S.
EXAONE_AVX2 inline __m256 k4_block(__m256 d, __m256 dmin, float da, __m256i sumi, __m256i summ) {
  const __m256 vda = _mm256_set1_ps(da);
  return _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(d, vda), _mm256_cvtepi32_ps(sumi)),
                       _mm256_mul_ps(_mm256_mul_ps(dmin, vda), _mm256_cvtepi32_ps(summ)));
}

// IQ4_XS: group j's 6-bit scale of each row from its scales_l word and scales_h half (one lane per
// row), minus 32, as int32.
EXAONE_AVX2 inline __m256i iq4_xs_group_scale(__m256i sl, __m256i sh, int j) {
  const __m256i ls = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(sl, 4 * j), _mm256_set1_epi32(15)),
                                     _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(sh, 2 * j), _mm256_set1_epi32(3)), 4));
  return _mm256_sub_epi32(ls, _mm256_set1_epi32(32));
}

namespace avx2 {
constexpr bool kVnni = false;
#define EXAONE_KERNEL_TARGET EXAONE_AVX2
#include "kernels/interleaved_ext_kernels.inc"
#undef EXAONE_KERNEL_TARGET
}  // namespace avx2

namespace vnni {
constexpr bool kVnni = true;
#define EXAONE_KERNEL_TARGET EXAONE_VNNI
#include "kernels/interleaved_ext_kernels.inc"
#undef EXAONE_KERNEL_TARGET
}  // namespace vnni

template <typename Block, void (*K1)(const Block*, int64_t, const void*, size_t, float*, int64_t),
          void (*K2)(const Block*, int64_t, const void*, size_t, float*, int64_t),
          void (*K3)(const Block*, int64_t, const void*, size_t, float*, int64_t),
          void (*K4)(const Block*, int64_t, const void*, size_t, float*, int64_t)>
void dispatch(const void* packed, int64_t cols, int64_t g, const void* act, size_t stride, int nt, float* y,
              int64_t ldy) {
  const int64_t nb = cols / kQKBlock;
  const Block* w = static_cast<const Block*>(packed) + g * nb;
  switch (nt) {
    case 1: K1(w, nb, act, stride, y, ldy); break;
    case 2: K2(w, nb, act, stride, y, ldy); break;
    case 3: K3(w, nb, act, stride, y, ldy); break;
    default: K4(w, nb, act, stride, y, ldy); break;
  }
}

}  // namespace

bool gemv_interleaved_ext(DType t, bool vnni, const void* packed, int64_t cols, int64_t g, const void* act,
                          size_t stride, int nt, float* y, int64_t ldy) {
  if (t == DType::Q5_K) {
    if (vnni)
      dispatch<BlockQ5_Kx8, vnni::gemv_q5_k<1>, vnni::gemv_q5_k<2>, vnni::gemv_q5_k<3>, vnni::gemv_q5_k<4>>(
          packed, cols, g, act, stride, nt, y, ldy);
    else
      dispatch<BlockQ5_Kx8, avx2::gemv_q5_k<1>, avx2::gemv_q5_k<2>, avx2::gemv_q5_k<3>, avx2::gemv_q5_k<4>>(
          packed, cols, g, act, stride, nt, y, ldy);
    return true;
  }
  if (t == DType::IQ4_XS) {
    if (vnni)
      dispatch<BlockIQ4_XSx8, vnni::gemv_iq4_xs<1>, vnni::gemv_iq4_xs<2>, vnni::gemv_iq4_xs<3>, vnni::gemv_iq4_xs<4>>(
          packed, cols, g, act, stride, nt, y, ldy);
    else
      dispatch<BlockIQ4_XSx8, avx2::gemv_iq4_xs<1>, avx2::gemv_iq4_xs<2>, avx2::gemv_iq4_xs<3>,
               avx2::gemv_iq4_xs<4>>(packed, cols, g, act, stride, nt, y, ldy);
    return true;
  }
  return false;
}

}  // namespace exaone

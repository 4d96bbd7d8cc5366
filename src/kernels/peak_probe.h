// The CPU's peak arithmetic rates, measured: each thread runs a short loop of independent register
// multiply-adds of the widest instruction this CPU has, best of a few rounds. Benchmarks divide by
// them (training MFU, the prefill fraction of the int8 peak), like the bandwidth probe for decode.
#pragma once
#include <string>

namespace exaone {

enum class PeakKind {
  F32,   // vfmadd231ps (AVX-512, else AVX2): GFLOP/s
  BF16,  // vdpbf16ps (AVX512_BF16 only; 0 without it): GFLOP/s
  Int8,  // u8 x s8 multiply-adds: vpdpbusd (AVX-512 VNNI) else vpmaddubsw + vpmaddwd (AVX2): GOP/s, 2 per MAC
};

// Rate with `threads` threads, about `seconds` per round; 0 where the CPU has no instruction for it.
double probe_peak(PeakKind kind, int threads, double seconds = 0.05);

// The instruction probe_peak(kind) runs on this CPU ("avx512", "avx2", "avx512_bf16", "avx512_vnni", ""), for reports.
std::string peak_path(PeakKind kind);

}  // namespace exaone

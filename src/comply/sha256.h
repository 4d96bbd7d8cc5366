// SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), self-contained so the compliance code needs
// no crypto library. Used for manifest digests and for keyed pseudonymisation.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace exaone::comply {

// Which compression function runs: the SHA-NI one when the CPU has it (`sha_ni` in
// /proc/cpuinfo, about 1.5-2 GB/s per core), else the portable one (~200 MB/s).
enum class Sha256Impl { Auto, Portable };

// True when this CPU has the SHA extensions (checked once, with CPUID).
bool sha256_hw_available();

class Sha256 {
 public:
  explicit Sha256(Sha256Impl impl = Sha256Impl::Auto);
  void reset();
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::array<uint8_t, 32> finish();  // resets afterwards

 private:
  void blocks(const uint8_t* p, size_t n);  // n whole 64-byte blocks
  bool hw_ = false;
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::array<uint8_t, 32> sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view message);
std::string to_hex(const uint8_t* p, size_t n);

// SHA-256 of a whole file, streamed; throws Error naming the path when it cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace exaone::comply

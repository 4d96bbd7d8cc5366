// Errors the user can act on. Every failure caused by input (a file, a request, a flag)
// is reported as exaone::Error with a one-line message naming the file/field/position;
// the CLI prints it and exits with code 2.
#pragma once
#include <stdexcept>
#include <string>

namespace exaone {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Exit code used for bad input everywhere (CLI contract).
inline constexpr int kExitBadInput = 2;

[[noreturn]] void fail(const std::string& msg);

}  // namespace exaone

// Running the `exaone` binary from the training tests: its exit code, and its stderr and stdout.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace exaone::train {

inline std::string slurp(const std::filesystem::path& p) {
  std::stringstream s;
  s << std::ifstream(p, std::ios::binary).rdbuf();
  return s.str();
}

// `exaone ARGS` with stdout and stderr captured in files of this test process.
inline int run_exaone(const std::string& args, std::string* err = nullptr, std::string* out = nullptr) {
  const std::string base = testing::TempDir() + "exaone_run_" + std::to_string(::getpid());
  const int status = std::system((std::string(EXAONE_BINARY) + " " + args + " >" + base + "_out.txt 2>" + base +
                                  "_err.txt").c_str());
  if (err) *err = slurp(base + "_err.txt");
  if (out) *out = slurp(base + "_out.txt");
  std::filesystem::remove(base + "_err.txt");
  std::filesystem::remove(base + "_out.txt");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace exaone::train

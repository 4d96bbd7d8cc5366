// Runs the `exaone` binary as a user would and captures stdout, stderr and the exit code.
// CTest runs tests of one binary in parallel processes: every scratch file is unique per process.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace exaone_cli_test {

struct Result {
  int code;
  std::string out, err;
};

// A path in the test temp dir private to this process.
inline std::string scratch_path(const std::string& name) {
  return testing::TempDir() + "exaone_" + std::to_string(::getpid()) + "_" + name;
}

inline Result run(const std::string& args, const std::string& stdin_text = "") {
  const std::string err_file = scratch_path("stderr.txt");
  const std::string in_file = scratch_path("stdin.txt");
  std::ofstream(in_file, std::ios::binary) << stdin_text;
  const std::string cmd = std::string(EXAONE_BINARY) + " " + args + " <" + in_file + " 2>" + err_file;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  std::stringstream err;
  err << std::ifstream(err_file).rdbuf();
  std::remove(err_file.c_str());
  std::remove(in_file.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, err.str()};
}

}  // namespace exaone_cli_test

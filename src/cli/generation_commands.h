#pragma once
#include <CLI/CLI.hpp>

namespace exaone::cli {
// run, chat (cmd_generate.cpp)
void register_generation_commands(CLI::App& app);
}  // namespace exaone::cli

#include "cli/generation_commands.h"

namespace exaone::cli {
void register_generation_commands(CLI::App& app) { (void)app; }
}  // namespace exaone::cli

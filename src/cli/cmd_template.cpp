#include "cli/cli.h"

namespace exaone::cli {

void register_template_commands(CLI::App& app) { (void)app; }

}  // namespace exaone::cli

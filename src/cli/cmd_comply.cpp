#include "cli/cli.h"

namespace exaone::cli {

void register_comply_commands(CLI::App& app) { (void)app; }

}  // namespace exaone::cli

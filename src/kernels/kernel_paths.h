// Which implementation each kernel family runs on this CPU (after EXAONE_KERNELS): what
// `exaone info --cpu` and `exaone bench --json` report, so a figure can be tied to the code that made it.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace exaone {

// (operation, path) pairs, in a fixed order; the keys are stable identifiers for JSON.
std::vector<std::pair<std::string, std::string>> kernel_paths();

}  // namespace exaone

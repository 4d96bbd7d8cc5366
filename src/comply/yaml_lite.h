// A small YAML subset for source cards and policies (block maps and lists, flow lists of
// scalars, quoted and plain scalars, comments). Anchors, multi-line strings and tags are
// rejected with an Error naming the line, so a card never silently means something else.
#pragma once
#include <string>

#include "util/json_file.h"

namespace exaone::comply {

json parse_yaml_lite(const std::string& text, const std::string& where);

// Reads a .json, .yaml or .yml file into JSON.
json read_structured_file(const std::string& path);

}  // namespace exaone::comply

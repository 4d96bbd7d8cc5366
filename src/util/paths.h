#pragma once
#include <string>

namespace exaone {

// Root of the exaone.cpp tree that holds models/ and tests/fixtures/ (EXAONE_HOME overrides
// the build-time source directory, so an installed binary can be pointed elsewhere).
std::string project_home();

// The model `-m` defaults to: $EXAONE_MODEL, else the bundled tiny default model.
std::string default_model_path();

// Joins two path parts with exactly one '/'.
std::string path_join(const std::string& a, const std::string& b);

}  // namespace exaone

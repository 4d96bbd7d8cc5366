#include "util/paths.h"

#include <cstdlib>

namespace exaone {

std::string project_home() {
  if (const char* h = std::getenv("EXAONE_HOME"); h && *h) return h;
  return EXAONE_SOURCE_DIR;
}

std::string default_model_path() {
  if (const char* m = std::getenv("EXAONE_MODEL"); m && *m) return m;
  return path_join(project_home(), "models/exaone4-demo");  // trained by scripts/train_default_model.sh
}

std::string path_join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  if (b.front() == '/') return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

}  // namespace exaone

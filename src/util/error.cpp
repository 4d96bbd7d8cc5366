#include "util/error.h"

namespace exaone {
void fail(const std::string& msg) { throw Error(msg); }
}  // namespace exaone

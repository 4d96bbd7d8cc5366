#include "util/json_file.h"

#include <cmath>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "util/error.h"

namespace exaone {

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

json read_json_file(const std::string& path) {
  std::string text = read_text_file(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail(path + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const json::exception& e) {  // e.g. a number too large for a double
    fail(path + ": invalid JSON: " + e.what());
  }
}

static const char* type_name(const json& v) { return v.type_name(); }

std::optional<int64_t> opt_int(const json& j, const std::string& key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer() || it->is_number_unsigned()) return it->get<int64_t>();
  if (it->is_number_float()) {
    const double d = it->get<double>();
    // 3.0 is accepted as 3; the range check comes first (casting an out-of-range double is UB).
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == std::trunc(d)) return static_cast<int64_t>(d);
  }
  fail(where + ": field '" + key + "': expected integer, got " + type_name(*it));
}

std::optional<double> opt_number(const json& j, const std::string& key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) fail(where + ": field '" + key + "': expected number, got " + type_name(*it));
  return it->get<double>();
}

std::optional<bool> opt_bool(const json& j, const std::string& key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) fail(where + ": field '" + key + "': expected boolean, got " + type_name(*it));
  return it->get<bool>();
}

std::optional<std::string> opt_string(const json& j, const std::string& key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) fail(where + ": field '" + key + "': expected string, got " + type_name(*it));
  return it->get<std::string>();
}

int64_t get_int(const json& j, const std::string& key, const std::string& where) {
  auto v = opt_int(j, key, where);
  if (!v) fail(where + ": missing field '" + key + "'");
  return *v;
}

double get_number(const json& j, const std::string& key, const std::string& where) {
  auto v = opt_number(j, key, where);
  if (!v) fail(where + ": missing field '" + key + "'");
  return *v;
}

}  // namespace exaone

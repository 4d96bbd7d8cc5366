// JSON helpers that turn parse and type errors into messages naming file and field.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace exaone {

using json = nlohmann::ordered_json;

// Parses a JSON file; throws Error("<path>: invalid JSON at byte N: ...") or "<path>: cannot open".
json read_json_file(const std::string& path);
std::string read_text_file(const std::string& path);
bool file_exists(const std::string& path);

// Typed field access: `where` names the file for messages ("config.json").
// Missing or wrong-typed fields give "<where>: field 'name': expected integer, got string".
int64_t get_int(const json& j, const std::string& key, const std::string& where);
double get_number(const json& j, const std::string& key, const std::string& where);
std::optional<int64_t> opt_int(const json& j, const std::string& key, const std::string& where);
std::optional<double> opt_number(const json& j, const std::string& key, const std::string& where);
std::optional<bool> opt_bool(const json& j, const std::string& key, const std::string& where);
std::optional<std::string> opt_string(const json& j, const std::string& key, const std::string& where);

}  // namespace exaone

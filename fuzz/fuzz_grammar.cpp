// libFuzzer target: the grammar compiler and matcher. Input: a JSON schema on the first line, then
// text fed in pieces. Any schema compiles or gives an Error; the matcher never crashes, a rejected
// piece leaves its state unchanged, and the token mask agrees with accepts() for every token.
#include <cstddef>
#include <cstdint>
#include <string>
#include "grammar/grammar.h"
#include "util/error.h"
using namespace exaone;
static const grammar::TokenFilter& filter() {
  static grammar::TokenFilter f = [] {
    std::vector<std::string> v;
    for (int b = 0; b < 256; ++b) v.push_back(std::string(1, char(b)));
    for (const char* t : {"{\"", "\":", "\", \"", "\"}", "true", "null", "12", "\\u00", "\\ud83d", "\xED\x95", "\x9C", " \"", "\n  "}) v.push_back(t);
    v.push_back("");
    int eos = v.size() - 1;
    return grammar::TokenFilter(v, {eos});
  }();
  return f;
}
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  if (nl == std::string::npos) return 0;
  grammar::NodePtr g;
  try {
    g = grammar::json_value(json::parse(in.substr(0, nl)));
  } catch (const Error&) { return 0; } catch (const json::exception&) { return 0; }
  grammar::Matcher m(g);
  std::string rest = in.substr(nl + 1);
  size_t pos = 0, k = 0;
  std::vector<char> allowed;
  while (pos < rest.size()) {
    size_t len = 1 + (static_cast<uint8_t>(rest[pos]) % 5);
    len = std::min(len, rest.size() - pos);
    grammar::Matcher before = m;
    bool ok = m.advance(std::string_view(rest).substr(pos, len));
    if (!ok && m.can_end() != before.can_end()) __builtin_trap();
    if (++k % 7 == 0) {
      filter().allowed(m, allowed);
      for (int id = 0; id < 256; ++id) if ((allowed[id] != 0) != filter().accepts(m, id)) __builtin_trap();
    }
    pos += len;
  }
  return 0;
}

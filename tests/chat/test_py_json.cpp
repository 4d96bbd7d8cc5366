// Python json.dumps / repr(float) / str.strip compatibility against values produced by Python
// (tests/fixtures/chat/py_json_cases.json, written by scripts/fixtures/make_chat_fixtures.py).
#include <gtest/gtest.h>

#include "chat/py_json.h"

using namespace exaone;
using namespace exaone::chat;

namespace {
json load_cases() { return read_json_file(std::string(EXAONE_FIXTURES) + "/chat/py_json_cases.json"); }
}  // namespace

TEST(PyJson, FloatReprMatchesPython) {
  json cases = load_cases();
  ASSERT_GE(cases["floats"].size(), 300u);
  for (const auto& c : cases["floats"]) {
    double v = c["value"].get<double>();
    EXPECT_EQ(py_float_repr(v), c["repr"].get<std::string>()) << "value " << c["value"].dump();
  }
}

TEST(PyJson, DumpsMatchesPython) {
  json cases = load_cases();
  for (const auto& c : cases["values"]) EXPECT_EQ(py_json_dumps(c["value"]), c["dumps"].get<std::string>());
}

TEST(PyJson, FloatReprEdges) {
  EXPECT_EQ(py_float_repr(0.0), "0.0");
  EXPECT_EQ(py_float_repr(-0.0), "-0.0");
  EXPECT_EQ(py_float_repr(1e16), "1e+16");
  EXPECT_EQ(py_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(py_float_repr(1e-5), "1e-05");
  EXPECT_EQ(py_float_repr(0.0001), "0.0001");
  EXPECT_EQ(py_float_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(py_float_repr(5e-324), "5e-324");
  EXPECT_EQ(py_float_repr(123456789.125), "123456789.125");
}

TEST(PyJson, Truthiness) {
  EXPECT_FALSE(py_truthy(json(nullptr)));
  EXPECT_FALSE(py_truthy(json(0)));
  EXPECT_FALSE(py_truthy(json(0.0)));
  EXPECT_FALSE(py_truthy(json("")));
  EXPECT_FALSE(py_truthy(json::array()));
  EXPECT_FALSE(py_truthy(json::object()));
  EXPECT_TRUE(py_truthy(json("0")));
  EXPECT_TRUE(py_truthy(json(-1)));
  EXPECT_TRUE(py_truthy(json::array({0})));
}

TEST(PyJson, StripUsesUnicodeWhitespace) {
  EXPECT_EQ(py_strip("\u3000\u00a0 a b \u2028\x1f"), "a b");
  EXPECT_EQ(py_strip("\xe2\x80\x8b" "x"), "\xe2\x80\x8b" "x");  // U+200B is not whitespace in Python
  EXPECT_EQ(py_lstrip("  x  "), "x  ");
  EXPECT_EQ(py_rstrip("  x  "), "  x");
  EXPECT_EQ(py_strip(""), "");
  EXPECT_EQ(py_strip(" \n\t "), "");
}

TEST(PyJson, SliceCountsCodePoints) {
  EXPECT_EQ(py_slice_from("<think>\n생각", 9), "각");
  EXPECT_EQ(py_slice_from("ab", 5), "");
}

TEST(PyJson, Utf8CompletePrefix) {
  std::string s = "a\xea\xb0\x80";  // "a가"
  EXPECT_EQ(utf8_complete_prefix(s), 4u);
  EXPECT_EQ(utf8_complete_prefix(s.substr(0, 3)), 1u);
  EXPECT_EQ(utf8_complete_prefix(s.substr(0, 2)), 1u);
  EXPECT_EQ(utf8_complete_prefix("\xf0\x9f\x98"), 0u);
  EXPECT_EQ(utf8_complete_prefix(""), 0u);
}

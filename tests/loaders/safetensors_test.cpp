// safetensors parsing: valid files load as views into the mapping; every malformed header
// gives an Error naming the file and what is wrong.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "loaders/safetensors.h"
#include "util/error.h"
#include "test_support.h"

namespace exaone {
namespace {

using test::error_of;

std::string make_file(const std::string& header, size_t data_bytes, const std::string& name = "t.safetensors") {
  static const test::TempDir root("st");  // removed with everything in it when the process exits
  static int counter = 0;
  const auto dir = root.path() / std::to_string(counter++);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header;
  std::string data(data_bytes, '\x01');
  f << data;
  return path;
}

std::string load_error(const std::string& path) {
  return error_of([&] {
    WeightStore s;
    load_safetensors_checkpoint(path, s);
  });
}

TEST(Safetensors, LoadsValidFile) {
  auto p = make_file(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                         "b": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]},
                         "__metadata__": {"format": "pt"}})",
                     32);
  WeightStore s;
  load_safetensors_checkpoint(p, s);
  ASSERT_NE(s.find("a"), nullptr);
  EXPECT_EQ(s.find("a")->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(s.find("b")->dtype, DType::BF16);
  EXPECT_EQ(s.total_bytes(), 32u);
  EXPECT_NO_THROW(s.require("a", {2, 3}));
  EXPECT_NE(error_of([&] { s.require("a", {3, 2}); }).find("shape [2, 3], config expects [3, 2]"), std::string::npos);
  EXPECT_NE(error_of([&] { s.require("zzz", {1}); }).find("missing tensor 'zzz'"), std::string::npos);
}

TEST(Safetensors, TruncatedFile) {
  auto dir = std::filesystem::temp_directory_path() / "exaone_st_trunc.safetensors";
  { std::ofstream(dir, std::ios::binary) << "abc"; }
  EXPECT_NE(load_error(dir.string()).find("truncated"), std::string::npos);
}

TEST(Safetensors, HeaderLengthBeyondFile) {
  auto p = make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4);
  // Corrupt the length field.
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  uint64_t big = 1ull << 40;
  f.write(reinterpret_cast<const char*>(&big), 8);
  f.close();
  EXPECT_NE(load_error(p).find("exceeds the file size"), std::string::npos);
}

TEST(Safetensors, InvalidJsonHeader) {
  auto p = make_file(R"({"a": {"dtype": "F32", )", 4);
  auto e = load_error(p);
  EXPECT_NE(e.find("invalid JSON header"), std::string::npos) << e;
  EXPECT_NE(e.find(p), std::string::npos);
  // A number too large for a double is nlohmann's out_of_range, not a parse_error (found by fuzz_safetensors).
  auto big = make_file(R"({"a": {"dtype": "F32", "shape": [4e4444444], "data_offsets": [0, 16]}})", 16);
  e = load_error(big);
  EXPECT_NE(e.find("invalid JSON header"), std::string::npos) << e;
}

TEST(Safetensors, OffsetsOutOfRange) {
  auto p = make_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8);
  auto e = load_error(p);
  EXPECT_NE(e.find("tensor 'a'"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
}

TEST(Safetensors, OverlappingTensors) {
  auto p = make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                     12);
  EXPECT_NE(load_error(p).find("overlap"), std::string::npos);
}

TEST(Safetensors, SizeDoesNotMatchShape) {
  auto p = make_file(R"({"a": {"dtype": "F16", "shape": [3, 3], "data_offsets": [0, 16]}})", 16);
  auto e = load_error(p);
  EXPECT_NE(e.find("needs 18"), std::string::npos) << e;
}

TEST(Safetensors, UnsupportedDtypeAndBadFields) {
  EXPECT_NE(load_error(make_file(R"({"a": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", 8))
                .find("unsupported dtype 'I64'"),
            std::string::npos);
  EXPECT_NE(load_error(make_file(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4))
                .find("negative"),
            std::string::npos);
  EXPECT_NE(load_error(make_file(R"({"a": {"dtype": "F32", "shape": [1]}})", 4)).find("data_offsets"), std::string::npos);
  EXPECT_NE(load_error(make_file(R"([1, 2])", 4)).find("not a JSON object"), std::string::npos);
  EXPECT_NE(load_error(make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8))
                .find("out of range"),
            std::string::npos);
}

TEST(Safetensors, IndexNamesMissingShard) {
  auto p = make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4, "model-1.safetensors");
  auto dir = std::filesystem::path(p).parent_path();
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}})";
  auto e = load_error(dir.string());
  EXPECT_NE(e.find("shard 'model-2.safetensors'"), std::string::npos) << e;
}

TEST(Safetensors, IndexListsTensorAbsentFromShard) {
  auto p = make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4, "model-1.safetensors");
  auto dir = std::filesystem::path(p).parent_path();
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"weight_map": {"a": "model-1.safetensors", "c": "model-1.safetensors"}})";
  auto e = load_error(dir.string());
  EXPECT_NE(e.find("tensor 'c'"), std::string::npos) << e;
}

TEST(Safetensors, MissingPath) {
  EXPECT_NE(load_error("/nonexistent/exaone/model").find("no such file"), std::string::npos);
}

}  // namespace
}  // namespace exaone

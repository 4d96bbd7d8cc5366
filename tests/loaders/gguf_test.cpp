// GGUF reader/writer: a file assembled byte by byte from the format description (ggml
// docs/gguf.md), writer round trips, the HF <-> GGUF name mapping, and one test per kind of
// malformed input (each must raise exaone::Error naming the file and item, never crash).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "loaders/gguf.h"
#include "util/error.h"

namespace exaone {
namespace {

struct Bytes {
  std::vector<uint8_t> b;
  template <class T>
  Bytes& num(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    num<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& pad(size_t align) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
};

// v3 file: 3 KVs (string, u32, bool array) and one F32 tensor of ggml dims {3, 2}.
Bytes handmade(uint32_t version = 3) {
  Bytes f;
  f.num<uint32_t>(0x46554747).num<uint32_t>(version).num<uint64_t>(1).num<uint64_t>(3);
  f.str("general.architecture").num<uint32_t>(8).str("exaone4");
  f.str("exaone4.block_count").num<uint32_t>(4).num<uint32_t>(2);
  f.str("exaone4.attention.sliding_window_pattern").num<uint32_t>(9).num<uint32_t>(7).num<uint64_t>(2);
  f.num<uint8_t>(1).num<uint8_t>(0);
  f.str("blk.1.attn_q.weight").num<uint32_t>(2).num<uint64_t>(3).num<uint64_t>(2).num<uint32_t>(0).num<uint64_t>(0);
  f.pad(32);
  for (int i = 0; i < 6; ++i) f.num<float>(float(i) + 0.5f);
  return f;
}

GgufFile parse(const Bytes& f) { return parse_gguf(f.b.data(), f.b.size(), "t.gguf"); }

void expect_error(const Bytes& f, const std::string& needle) {
  try {
    parse(f);
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("t.gguf"), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

TEST(Gguf, ParsesHandmadeFile) {
  Bytes f = handmade();
  GgufFile g = parse(f);
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.alignment, 32u);
  EXPECT_EQ(g.get_string("general.architecture"), "exaone4");
  EXPECT_EQ(g.get_int("exaone4.block_count"), 2);
  const GgufValue* pat = g.find("exaone4.attention.sliding_window_pattern");
  ASSERT_TRUE(pat);
  EXPECT_EQ(pat->type, GgufType::ARRAY);
  EXPECT_EQ(pat->elem_type, GgufType::BOOL);
  EXPECT_EQ(pat->value, json::array({true, false}));
  ASSERT_EQ(g.tensors.size(), 1u);
  const auto& t = g.tensors[0];
  EXPECT_EQ(t.ne, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(t.view.shape, (std::vector<int64_t>{2, 3}));  // PyTorch order
  EXPECT_EQ(t.view.dtype, DType::F32);
  EXPECT_EQ(t.view.nbytes, 24u);
  EXPECT_EQ(g.data_offset % 32, 0u);
  float v[6];
  std::memcpy(v, t.view.data, 24);
  EXPECT_EQ(v[5], 5.5f);
  EXPECT_EQ(parse(handmade(2)).version, 2u);
}

TEST(Gguf, WriterRoundTripAllValueTypes) {
  GgufWriter w;
  w.set("general.architecture", GgufType::STRING, "exaone");
  w.set("a.u8", GgufType::U8, 200);
  w.set("a.i8", GgufType::I8, -100);
  w.set("a.u16", GgufType::U16, 60000);
  w.set("a.i16", GgufType::I16, -30000);
  w.set("a.u32", GgufType::U32, 4000000000u);
  w.set("a.i32", GgufType::I32, -2000000000);
  w.set("a.f32", GgufType::F32, 1.5);
  w.set("a.bool", GgufType::BOOL, true);
  w.set("a.u64", GgufType::U64, 1ull << 40);
  w.set("a.i64", GgufType::I64, -(1ll << 40));
  w.set("a.f64", GgufType::F64, 0.1);
  w.set_array("a.strs", GgufType::STRING, json::array({"x", "", "yz"}));
  w.set_array("a.ints", GgufType::I32, json::array({1, -2, 3}));
  w.set_array("a.empty", GgufType::F32, json::array());
  std::vector<uint8_t> q(2 * 34, 0);
  w.add_tensor("blk.0.attn_q.weight", DType::Q8_0, {1, 64}, q);
  std::vector<uint8_t> h(6, 0);
  w.add_tensor("output_norm.weight", DType::BF16, {3}, h);
  auto bytes = w.serialize();
  GgufFile g = parse_gguf(bytes.data(), bytes.size(), "w.gguf");
  EXPECT_EQ(g.get_int("a.u8"), 200);
  EXPECT_EQ(g.get_int("a.i8"), -100);
  EXPECT_EQ(g.get_int("a.u16"), 60000);
  EXPECT_EQ(g.get_int("a.i16"), -30000);
  EXPECT_EQ(g.get_int("a.u32"), 4000000000ll);
  EXPECT_EQ(g.get_int("a.i32"), -2000000000);
  EXPECT_EQ(g.get_float("a.f32"), 1.5);
  EXPECT_EQ(g.find("a.bool")->value, true);
  EXPECT_EQ(g.get_int("a.u64"), 1ll << 40);
  EXPECT_EQ(g.get_int("a.i64"), -(1ll << 40));
  EXPECT_EQ(g.get_float("a.f64"), 0.1);
  EXPECT_EQ(g.find("a.strs")->value, json::array({"x", "", "yz"}));
  EXPECT_EQ(g.find("a.ints")->value, json::array({1, -2, 3}));
  EXPECT_TRUE(g.find("a.empty")->value.empty());
  EXPECT_THROW(g.get_int("a.f32"), Error);
  EXPECT_THROW(g.get_string("a.u8"), Error);
  EXPECT_THROW(g.get_int("missing"), Error);
  ASSERT_EQ(g.tensors.size(), 2u);
  EXPECT_EQ(g.tensors[0].view.dtype, DType::Q8_0);
  EXPECT_EQ(g.tensors[0].view.nbytes, 68u);
  EXPECT_EQ(g.tensors[1].view.dtype, DType::BF16);
  EXPECT_EQ(g.tensors[1].offset % 32, 0u);
  EXPECT_EQ(g.kv_order.front(), "general.architecture");
}

TEST(Gguf, CustomAlignment) {
  GgufWriter w;
  w.set("general.alignment", GgufType::U32, 64);
  w.add_tensor("a", DType::F32, {5}, std::vector<uint8_t>(20));
  w.add_tensor("b", DType::F32, {1}, std::vector<uint8_t>(4));
  auto bytes = w.serialize();
  GgufFile g = parse_gguf(bytes.data(), bytes.size(), "w.gguf");
  EXPECT_EQ(g.alignment, 64u);
  EXPECT_EQ(g.data_offset % 64, 0u);
  EXPECT_EQ(g.tensors[1].offset, 64u);
}

TEST(Gguf, NameMapping) {
  EXPECT_EQ(gguf_to_hf_name("exaone4", "blk.12.post_attention_norm.weight"),
            "model.layers.12.post_attention_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_name("exaone4", "blk.0.post_ffw_norm.weight"), "model.layers.0.post_feedforward_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_name("exaone4", "token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(gguf_to_hf_name("exaone4", "output.weight"), "lm_head.weight");
  EXPECT_EQ(gguf_to_hf_name("exaone", "blk.3.attn_output.weight"), "transformer.h.3.attn.attention.out_proj.weight");
  EXPECT_EQ(gguf_to_hf_name("exaone", "blk.3.ffn_norm.weight"), "transformer.h.3.ln_2.weight");
  EXPECT_EQ(gguf_to_hf_name("exaone", "output_norm.weight"), "transformer.ln_f.weight");
  EXPECT_EQ(gguf_to_hf_name("exaone4", "rope_freqs.weight"), "");
  EXPECT_EQ(gguf_to_hf_name("exaone4", "blk.x.attn_q.weight"), "");
  EXPECT_EQ(gguf_to_hf_name("exaone4", "blk.1.attn_norm.weight"), "");  // not an exaone4 tensor
  const char* v4[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                      "self_attn.q_norm", "self_attn.k_norm", "post_attention_layernorm", "mlp.gate_proj",
                      "mlp.up_proj", "mlp.down_proj", "post_feedforward_layernorm"};
  for (const char* s : v4) {
    const std::string hf = std::string("model.layers.7.") + s + ".weight";
    EXPECT_EQ(gguf_to_hf_name("exaone4", hf_to_gguf_name("exaone4", hf)), hf);
  }
  EXPECT_EQ(hf_to_gguf_name("exaone4", "model.layers.7.mlp.down_proj.weight"), "blk.7.ffn_down.weight");
  EXPECT_EQ(hf_to_gguf_name("exaone", "transformer.h.0.mlp.c_fc_0.weight"), "blk.0.ffn_gate.weight");
  EXPECT_EQ(hf_to_gguf_name("exaone", "transformer.h.0.ln_1.weight"), "blk.0.attn_norm.weight");
  EXPECT_EQ(hf_to_gguf_name("exaone", "model.layers.0.mlp.up_proj.weight"), "");
}

// ---- malformed input: one test per kind of error ----

TEST(GgufMalformed, BadMagic) {
  Bytes f = handmade();
  f.b[0] = 'X';
  expect_error(f, "magic");
}

TEST(GgufMalformed, UnsupportedVersion) {
  expect_error(handmade(1), "version 1");
  expect_error(handmade(4), "version 4");
}

TEST(GgufMalformed, TruncatedEverywhere) {
  Bytes f = handmade();
  // Every prefix must fail cleanly (header, keys, values, tensor infos, data).
  for (size_t n = 0; n < f.b.size(); ++n) {
    Bytes p;
    p.b.assign(f.b.begin(), f.b.begin() + n);
    EXPECT_THROW(parse(p), Error) << "prefix " << n;
  }
}

TEST(GgufMalformed, HugeCounts) {
  Bytes f = handmade();
  std::memcpy(f.b.data() + 8, "\xff\xff\xff\xff\xff\xff\xff\x0f", 8);
  expect_error(f, "tensor count");
  f = handmade();
  std::memcpy(f.b.data() + 16, "\xff\xff\xff\xff\xff\xff\xff\x0f", 8);
  expect_error(f, "metadata count");
}

TEST(GgufMalformed, StringLengthPastEnd) {
  Bytes f = handmade();
  std::memcpy(f.b.data() + 24, "\x00\x00\x00\x00\x00\x01\x00\x00", 8);  // first key length
  expect_error(f, "string length");
}

TEST(GgufMalformed, UnknownValueType) {
  Bytes f;
  f.num<uint32_t>(0x46554747).num<uint32_t>(3).num<uint64_t>(0).num<uint64_t>(1);
  f.str("k").num<uint32_t>(13).num<uint32_t>(0);
  expect_error(f, "unknown value type 13");
}

TEST(GgufMalformed, ArrayTooLongOrNested) {
  Bytes f;
  f.num<uint32_t>(0x46554747).num<uint32_t>(3).num<uint64_t>(0).num<uint64_t>(1);
  f.str("arr").num<uint32_t>(9).num<uint32_t>(4).num<uint64_t>(1000000).num<uint32_t>(1);
  expect_error(f, "array length");
  Bytes g;
  g.num<uint32_t>(0x46554747).num<uint32_t>(3).num<uint64_t>(0).num<uint64_t>(1);
  g.str("arr").num<uint32_t>(9).num<uint32_t>(9).num<uint64_t>(0);
  expect_error(g, "array element type");
}

TEST(GgufMalformed, DuplicateKeyAndTensor) {
  Bytes f;
  f.num<uint32_t>(0x46554747).num<uint32_t>(3).num<uint64_t>(0).num<uint64_t>(2);
  f.str("k").num<uint32_t>(4).num<uint32_t>(1).str("k").num<uint32_t>(4).num<uint32_t>(2);
  expect_error(f, "duplicate metadata key 'k'");
  Bytes g;
  g.num<uint32_t>(0x46554747).num<uint32_t>(3).num<uint64_t>(2).num<uint64_t>(0);
  g.str("t").num<uint32_t>(1).num<uint64_t>(1).num<uint32_t>(0).num<uint64_t>(0);
  g.str("t").num<uint32_t>(1).num<uint64_t>(1).num<uint32_t>(0).num<uint64_t>(32);
  g.pad(32);
  g.b.resize(g.b.size() + 64);
  expect_error(g, "duplicate tensor name");
}

Bytes one_tensor(uint32_t ndims, std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data_bytes,
                 uint32_t alignment = 0) {
  Bytes f;
  f.num<uint32_t>(0x46554747).num<uint32_t>(3).num<uint64_t>(1).num<uint64_t>(alignment ? 1 : 0);
  if (alignment) f.str("general.alignment").num<uint32_t>(4).num<uint32_t>(alignment);
  f.str("w").num<uint32_t>(ndims);
  for (auto d : ne) f.num<uint64_t>(d);
  f.num<uint32_t>(type).num<uint64_t>(offset);
  f.pad(alignment ? alignment : 32);
  f.b.resize(f.b.size() + data_bytes);
  return f;
}

TEST(GgufMalformed, TensorInfoErrors) {
  EXPECT_NO_THROW(parse(one_tensor(2, {32, 2}, 8, 0, 68)));
  expect_error(one_tensor(5, {1, 1, 1, 1, 1}, 0, 0, 4), "tensor 'w': 5 dimensions");
  expect_error(one_tensor(1, {4}, 16, 0, 64), "unsupported ggml type 16");        // IQ2_XXS
  EXPECT_NO_THROW(parse(one_tensor(2, {32, 2}, 3, 0, 40)));                       // Q4_1: 2 blocks of 20
  expect_error(one_tensor(2, {32, 3}, 3, 0, 40), "outside the data section");
  expect_error(one_tensor(1, {128}, 13, 0, 176), "block size");                   // Q5_K rows are 256s
  expect_error(one_tensor(1, {4}, 99, 0, 64), "unsupported ggml type 99");
  expect_error(one_tensor(1, {4}, 0, 8, 64), "not a multiple of the alignment");  // misaligned data
  expect_error(one_tensor(1, {4}, 0, 32, 40), "outside the data section");        // offset past the end
  expect_error(one_tensor(2, {32, 3}, 8, 0, 68), "outside the data section");     // data too short
  expect_error(one_tensor(1, {33}, 8, 0, 128), "block size");                     // row not whole blocks
  expect_error(one_tensor(2, {1ull << 40, 1ull << 40}, 0, 0, 4), "too large");
}

TEST(GgufMalformed, BadAlignment) {
  expect_error(one_tensor(1, {4}, 0, 0, 16, 24), "power of two");
  Bytes f;
  f.num<uint32_t>(0x46554747).num<uint32_t>(3).num<uint64_t>(0).num<uint64_t>(1);
  f.str("general.alignment").num<uint32_t>(8).str("32");
  expect_error(f, "general.alignment");
}

TEST(GgufMalformed, OverlappingTensors) {
  Bytes f;
  f.num<uint32_t>(0x46554747).num<uint32_t>(3).num<uint64_t>(2).num<uint64_t>(0);
  f.str("a").num<uint32_t>(1).num<uint64_t>(16).num<uint32_t>(0).num<uint64_t>(0);
  f.str("b").num<uint32_t>(1).num<uint64_t>(16).num<uint32_t>(0).num<uint64_t>(32);
  f.pad(32);
  f.b.resize(f.b.size() + 128);
  expect_error(f, "overlap");
}

TEST(GgufLoad, WeightStoreUnderHfNames) {
  const auto dir = std::filesystem::temp_directory_path() / ("gguf_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "m.gguf").string();
  GgufWriter w;
  w.set("general.architecture", GgufType::STRING, "exaone4");
  w.add_tensor("blk.0.attn_q.weight", DType::F32, {2, 3}, std::vector<uint8_t>(24));
  w.add_tensor("rope_freqs.weight", DType::F32, {2}, std::vector<uint8_t>(8));
  w.write(path);
  WeightStore store;
  GgufFile g = load_gguf_checkpoint(path, store);
  EXPECT_EQ(g.tensors.size(), 2u);
  const TensorView* t = store.find("model.layers.0.self_attn.q_proj.weight");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(store.tensors().size(), 1u);
  GgufWriter bad;
  bad.set("general.architecture", GgufType::STRING, "llama");
  bad.write(path);
  WeightStore s2;
  EXPECT_THROW(load_gguf_checkpoint(path, s2), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace exaone

// The matching engine behind grammar.h: grammar nodes, parse stacks of frames, and the byte step.
//
// A configuration is a set of parse stacks (nondeterminism: choices, optional members, repeat
// counts). Every stack in a configuration is "ready": its top frame can consume a byte. A stack
// that has matched the whole grammar is not stored; `accept` records that one exists.
// step() feeds one byte to every stack, then settles the survivors (epsilon moves: pushing
// children, popping finished frames, forking alternatives) and deduplicates identical stacks.
// Nothing here allocates once the vectors have grown, so the token filter can run step() per
// trie node.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grammar/grammar.h"

namespace exaone::grammar {

enum class Kind : uint8_t {
  Literal,     // text
  ByteSet,     // one byte of `bytes`
  LiteralSet,  // one of `strings` (sorted): enum / const values, deterministic
  Sequence,    // items in order
  Choice,      // one of items
  Repeat,      // item (separator item)*, min..max times
  Ref,         // target (a $ref; set after the target is compiled, so recursion works)
  String,      // JSON string, length min..max characters (max < 0: unbounded), none of `strings` (keys)
  Number,      // JSON number / integer
  Object,      // JSON object
  Array,       // JSON array
};

struct NumberSpec {
  bool integer = false;
  bool has_min = false, has_max = false;
  bool min_exclusive = false, max_exclusive = false;
  double min = 0, max = 0;
  bool bounded() const { return has_min || has_max; }
};

struct ObjectProp {
  std::string name;
  const Node* key = nullptr;  // the quoted name as JSON writes it
  const Node* value = nullptr;
  bool required = false;
};

struct Node {
  Kind kind = Kind::Literal;
  bool nullable = false;  // matches the empty text (a Repeat of such an item must not loop)
  std::string text;
  std::array<uint64_t, 4> bytes{};
  std::vector<std::string> strings;
  std::vector<const Node*> items;  // Sequence / Choice; Array prefix items
  const Node* item = nullptr;      // Repeat item; Ref target; Array items after the prefix (null: none)
  const Node* separator = nullptr;
  int min = 0, max = -1;  // Repeat count, String length, Array length
  NumberSpec number;
  std::vector<ObjectProp> props;         // in schema order
  std::vector<uint32_t> first_required;  // first_required[i]: first required prop at or after i (props.size(): none)
  const Node* additional = nullptr;      // value of other keys (null: none allowed)
  const Node* additional_key = nullptr;  // the String node for other keys
  std::vector<NodePtr> keep;             // children this node keeps alive (json_value's nodes live in an arena)
};

// One frame of a parse stack. Plain data, compared with memcmp: every field is always set.
struct Frame {
  const Node* node;
  uint32_t phase;  // position in a literal, index in a sequence, parser state of JSON frames
  uint32_t a, b, c, d, e;
  double value;  // Number: the digits read so far
};
static_assert(sizeof(Frame) == 40);

// Limits that keep every input finite. A stack deeper than kMaxFrames (about that many levels of
// JSON nesting) or a configuration with more than kMaxStacks stacks drops the excess.
inline constexpr size_t kMaxFrames = 160;
inline constexpr size_t kMaxStacks = 512;
inline constexpr uint32_t kMaxWhitespace = 20;  // consecutive whitespace bytes between JSON tokens
inline constexpr uint32_t kMaxIntDigits = 19;
inline constexpr uint32_t kMaxFracDigits = 20;
inline constexpr uint32_t kMaxExpDigits = 2;  // values stay finite doubles (parsers reject 1e999)

struct Config {
  std::vector<Frame> frames;   // every stack's frames, bottom first, one stack after another
  std::vector<uint32_t> ends;  // ends[k]: end of stack k in frames
  std::vector<uint64_t> hashes;
  bool accept = false;  // the text so far is a complete text of the grammar

  size_t stacks() const { return ends.size(); }
  uint32_t begin_of(size_t k) const { return k == 0 ? 0 : ends[k - 1]; }
  void clear() {
    frames.clear();
    ends.clear();
    hashes.clear();
    accept = false;
  }
};

// Working memory of step(); one per thread of use.
struct Scratch {
  std::vector<std::vector<Frame>> pending;
  size_t n_pending = 0;
  std::vector<Frame> work;
  std::vector<std::vector<Frame>> seen;  // stacks a nullable Repeat already iterated from
  size_t n_seen = 0;
};

// The ready stacks at the start of `root`.
void start_config(const Node* root, Config& out, Scratch& sc);
// `out` = the configuration after `byte`; false when no stack survives (out.accept is then false too).
bool step(const Config& in, uint8_t byte, Config& out, Scratch& sc);

// Feeds one byte to a ready frame (the top of a stack); false when it does not fit.
bool consume(Frame& f, uint8_t byte);

// String frames: a = UTF-8 decoder state (0: at a character boundary), b = characters (saturated),
// c = \\u code unit, d = excluded names still matching (lo | hi << 16), e = bytes matched against them.
enum StringPhase : uint32_t { S_OPEN, S_BODY, S_ESC, S_HEX, S_LOW_BS, S_LOW_U, S_LOW_HEX, S_DONE };
inline constexpr uint32_t utf8_state(uint32_t remaining, uint32_t lo, uint32_t hi) {
  return remaining | lo << 8 | hi << 16;
}
inline constexpr uint32_t kBadUtf8 = 0xFFFFFFFFu;

// The UTF-8 decoder state after byte `b` of a string body (0: at a character boundary), or kBadUtf8.
inline uint32_t string_body_byte(uint32_t state, uint8_t b) {
  if (state == 0) {
    if (b < 0x20) return kBadUtf8;
    if (b < 0x80) return 0;
    if (b >= 0xC2 && b <= 0xDF) return utf8_state(1, 0x80, 0xBF);
    if (b == 0xE0) return utf8_state(2, 0xA0, 0xBF);
    if (b == 0xED) return utf8_state(2, 0x80, 0x9F);  // no UTF-16 surrogates
    if (b >= 0xE1 && b <= 0xEF) return utf8_state(2, 0x80, 0xBF);
    if (b == 0xF0) return utf8_state(3, 0x90, 0xBF);
    if (b >= 0xF1 && b <= 0xF3) return utf8_state(3, 0x80, 0xBF);
    if (b == 0xF4) return utf8_state(3, 0x80, 0x8F);  // nothing above U+10FFFF
    return kBadUtf8;
  }
  uint32_t remaining = state & 0xFF, lo = (state >> 8) & 0xFF, hi = state >> 16;
  if (b < lo || b > hi) return kBadUtf8;
  return remaining == 1 ? 0 : utf8_state(remaining - 1, 0x80, 0xBF);
}

// In a string body, bytes other than '"' and '\\' keep the frame in S_BODY and never push or pop:
// stacks whose top is such a frame follow plain bytes by consume() on the top alone.
inline bool is_string_body(const Frame& f) { return f.node->kind == Kind::String && f.phase == S_BODY; }
// A string body at a character boundary that is not a key to check against declared names: any
// run of plain string bytes (no '"', '\\' or control byte, valid UTF-8 so far) fits while its
// characters stay within the characters left (-1: unlimited).
inline int64_t plain_string_room(const Frame& f) {
  if (!is_string_body(f) || f.a != 0 || f.d != 0) return 0;
  return f.node->max < 0 ? -1 : static_cast<int64_t>(f.node->max) - f.b;
}
uint64_t hash_stack(const Frame* f, size_t n);

struct Matcher::State {
  NodePtr root;
  Config config;
};

}  // namespace exaone::grammar

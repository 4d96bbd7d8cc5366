#include "grammar/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace exaone::grammar {

namespace {

enum NumberPhase : uint32_t { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
// Number frame fields: a = integer digits, b = fraction digits, c = bit 0 negative, bits 1.. exponent digits.

enum ObjectPhase : uint32_t { O_OPEN, O_FIRST, O_AFTER_KEY, O_BEFORE_VALUE, O_AFTER_VALUE, O_KEY, O_DONE };
// Object frame fields: a = whitespace run, b = next declared property that may come, c = the property
// whose key was just read (props.size(): an additional one).

enum ArrayPhase : uint32_t { A_OPEN, A_FIRST, A_AFTER_ITEM, A_ITEM, A_DONE };
// Array frame fields: a = whitespace run, b = items so far (saturated once more no longer matters).

bool is_ws(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

double pow10(int e) {
  static const auto table = [] {
    std::array<double, 64> t{};
    for (int i = 0; i < 64; ++i) t[i] = std::pow(10.0, i - 32);
    return t;
  }();
  return table[std::clamp(e, -32, 31) + 32];
}

Frame initial_frame(const Node* n) {
  Frame f{n, 0, 0, 0, 0, 0, 0, 0.0};
  if (n->kind == Kind::LiteralSet) f.b = static_cast<uint32_t>(n->strings.size());
  if (n->kind == Kind::String && !n->strings.empty()) f.d = static_cast<uint32_t>(n->strings.size()) << 16;
  return f;
}

// Narrows the sorted strings [lo, hi), which share their first `pos` bytes, to those whose next byte is `b`.
bool narrow(const std::vector<std::string>& v, uint32_t& lo, uint32_t& hi, uint32_t pos, uint8_t b) {
  auto first = v.begin() + lo, last = v.begin() + hi;
  if (first->size() == pos) ++first;  // the one string that ends here sorts first
  first = std::lower_bound(first, last, b,
                           [pos](const std::string& s, uint8_t c) { return static_cast<uint8_t>(s[pos]) < c; });
  last = std::upper_bound(first, last, b,
                          [pos](uint8_t c, const std::string& s) { return c < static_cast<uint8_t>(s[pos]); });
  lo = static_cast<uint32_t>(first - v.begin());
  hi = static_cast<uint32_t>(last - v.begin());
  return lo < hi;
}

bool eat_ws(Frame& f, uint8_t b) {
  if (!is_ws(b) || f.a >= kMaxWhitespace) return false;
  ++f.a;
  return true;
}

// ---- strings

// A character starts: counts it against maxLength (the count stops at minLength when there is no maximum,
// so an unbounded string body keeps one state).
bool begin_char(Frame& f) {
  const Node* n = f.node;
  if (n->max >= 0) {
    if (f.b >= static_cast<uint32_t>(n->max)) return false;
    ++f.b;
  } else if (f.b < static_cast<uint32_t>(n->min)) {
    ++f.b;
  }
  return true;
}

// Other keys of an object must not spell a declared name: follow the raw bytes against the excluded names
// (JSON-escaped, as a model writes them) until none matches.
bool excluded_key_byte(Frame& f, uint8_t b) {
  if (f.d == 0) return true;
  uint32_t lo = f.d & 0xFFFF, hi = f.d >> 16;
  const std::vector<std::string>& names = f.node->strings;
  if (f.phase == S_BODY && f.a == 0 && b == '"') return names[lo].size() != f.e;
  if (narrow(names, lo, hi, f.e, b)) {
    f.d = lo | hi << 16;
    ++f.e;
  } else {
    f.d = f.e = 0;
  }
  return true;
}

bool consume_string(Frame& f, uint8_t b) {
  if (f.phase != S_OPEN && !excluded_key_byte(f, b)) return false;
  switch (f.phase) {
    case S_OPEN:
      if (b != '"') return false;
      f.phase = S_BODY;
      return true;
    case S_BODY: {
      if (f.a == 0) {
        if (b == '"') {
          if (f.b < static_cast<uint32_t>(f.node->min)) return false;
          f.phase = S_DONE;
          return true;
        }
        if (b < 0x20) return false;
        if (b == '\\') {
          if (!begin_char(f)) return false;
          f.phase = S_ESC;
          return true;
        }
      }
      uint32_t u = string_body_byte(f.a, b);
      if (u == kBadUtf8) return false;
      if (f.a == 0 && !begin_char(f)) return false;
      f.a = u;
      return true;
    }
    case S_ESC:
      if (b == 'u') {
        f.phase = S_HEX;
        f.a = f.c = 0;  // a counts hex digits here (the UTF-8 state is 0 at an escape)
        return true;
      }
      if (!std::strchr("\"\\/bfnrt", b) || b == 0) return false;
      f.phase = S_BODY;
      return true;
    case S_HEX: {
      int v = hex_value(b);
      if (v < 0) return false;
      f.c = f.c * 16 + v;
      ++f.a;
      if (f.a == 2 && f.c >= 0xDC && f.c <= 0xDF) return false;  // a low surrogate alone does not parse
      if (f.a == 4) {
        f.phase = f.c >= 0xD800 && f.c <= 0xDBFF ? S_LOW_BS : S_BODY;
        f.a = f.c = 0;
      }
      return true;
    }
    case S_LOW_BS:
      if (b != '\\') return false;
      f.phase = S_LOW_U;
      return true;
    case S_LOW_U:
      if (b != 'u') return false;
      f.phase = S_LOW_HEX;
      f.a = f.c = 0;
      return true;
    case S_LOW_HEX: {
      int v = hex_value(b);
      if (v < 0) return false;
      f.c = f.c * 16 + v;
      ++f.a;
      if (f.a == 1 && f.c != 0xD) return false;
      if (f.a == 2 && (f.c < 0xDC || f.c > 0xDF)) return false;
      if (f.a == 4) {
        f.phase = S_BODY;
        f.a = f.c = 0;
      }
      return true;
    }
    default:
      return false;
  }
}

// ---- numbers

bool value_in_bounds(const NumberSpec& s, double v) {
  if (s.has_min && (s.min_exclusive ? !(v > s.min) : !(v >= s.min))) return false;
  if (s.has_max && (s.max_exclusive ? !(v < s.max) : !(v <= s.max))) return false;
  return true;
}

// Whether some value with magnitude in [m1, m2] (m2 itself excluded when `open_top`) and the given sign
// meets the bounds.
bool magnitudes_meet(const NumberSpec& s, bool negative, double m1, double m2, bool open_top) {
  double x1 = negative ? -m2 : m1, x2 = negative ? -m1 : m2;
  bool x1_open = negative && open_top, x2_open = !negative && open_top;
  if (s.has_min && ((x2_open || s.min_exclusive) ? !(x2 > s.min) : !(x2 >= s.min))) return false;
  if (s.has_max && ((x1_open || s.max_exclusive) ? !(x1 < s.max) : !(x1 <= s.max))) return false;
  return true;
}

// Whether the number read so far can still end inside the bounds (exact up to double rounding; bounded
// numbers take no exponent, so the digits left decide).
bool number_feasible(const Frame& f) {
  const NumberSpec& s = f.node->number;
  if (!s.bounded()) return true;
  bool negative = f.c & 1;
  bool fractions = !s.integer;
  switch (f.phase) {
    case N_MINUS:
      return magnitudes_meet(s, true, 0, pow10(kMaxIntDigits), true);
    case N_ZERO:
      return magnitudes_meet(s, negative, 0, fractions ? 1 : 0, fractions);
    case N_INT:
      for (uint32_t j = 0; f.a + j <= kMaxIntDigits; ++j) {
        double scale = pow10(static_cast<int>(j));
        double m1 = f.value * scale, m2 = (f.value + 1) * scale;
        if (fractions ? magnitudes_meet(s, negative, m1, m2, true) : magnitudes_meet(s, negative, m1, m2 - 1, false))
          return true;
      }
      return false;
    case N_DOT:
      return magnitudes_meet(s, negative, f.value, f.value + 1, true);
    case N_FRAC:
      if (f.b >= kMaxFracDigits) return magnitudes_meet(s, negative, f.value, f.value, false);
      return magnitudes_meet(s, negative, f.value, f.value + pow10(-static_cast<int>(f.b)), true);
    default:
      return true;
  }
}

bool number_can_end(const Frame& f) {
  if (f.phase != N_ZERO && f.phase != N_INT && f.phase != N_FRAC && f.phase != N_EXP) return false;
  const NumberSpec& s = f.node->number;
  return !s.bounded() || value_in_bounds(s, (f.c & 1) ? -f.value : f.value);
}

bool consume_number(Frame& f, uint8_t b);

bool number_can_continue(const Frame& f) {
  const NumberSpec& s = f.node->number;
  if (s.bounded() && (f.phase == N_ZERO || f.phase == N_INT || f.phase == N_FRAC)) {
    // A complete number in range may admit no further digit ("120" under maximum 120): then nothing
    // more can come, which must_end() reports.
    for (uint8_t b : std::string_view("0123456789.")) {
      Frame t = f;
      if (consume_number(t, b)) return true;
    }
    return false;
  }
  switch (f.phase) {
    case N_ZERO:
      return !s.integer;
    case N_INT:
      return !s.integer || f.a < kMaxIntDigits;
    case N_FRAC:
      return f.b < kMaxFracDigits || !s.bounded();
    case N_EXP:
      return (f.c >> 1) < kMaxExpDigits;
    default:
      return true;
  }
}

bool consume_number(Frame& f, uint8_t b) {
  const NumberSpec& s = f.node->number;
  const bool exponent_ok = !s.integer && !s.bounded();
  const bool is_e = b == 'e' || b == 'E';
  switch (f.phase) {
    case N_START:
      if (b == '-') {
        f.c |= 1;
        f.phase = N_MINUS;
        break;
      }
      [[fallthrough]];
    case N_MINUS:
      if (b == '0') {
        f.phase = N_ZERO;
        f.a = 1;
      } else if (b >= '1' && b <= '9') {
        f.phase = N_INT;
        f.a = 1;
        f.value = b - '0';
      } else {
        return false;
      }
      break;
    case N_ZERO:
    case N_INT:
      if (f.phase == N_INT && is_digit(b) && f.a < kMaxIntDigits) {
        f.value = f.value * 10 + (b - '0');
        ++f.a;
      } else if (b == '.' && !s.integer) {
        f.phase = N_DOT;
      } else if (is_e && exponent_ok) {
        f.phase = N_E;
      } else {
        return false;
      }
      break;
    case N_DOT:
    case N_FRAC:
      if (is_digit(b) && f.b < kMaxFracDigits) {
        ++f.b;
        f.value += (b - '0') * pow10(-static_cast<int>(f.b));
        f.phase = N_FRAC;
      } else if (f.phase == N_FRAC && is_e && exponent_ok) {
        f.phase = N_E;
      } else {
        return false;
      }
      break;
    case N_E:
      if (b == '+' || b == '-') {
        f.phase = N_ESIGN;
        break;
      }
      [[fallthrough]];
    case N_ESIGN:
    case N_EXP:
      if (!is_digit(b) || (f.c >> 1) >= kMaxExpDigits) return false;
      f.c += 2;
      f.phase = N_EXP;
      break;
    default:
      return false;
  }
  return number_feasible(f);
}

// ---- objects and arrays

bool object_closable(const Frame& f) { return f.node->first_required[f.b] == f.node->props.size(); }
bool object_key_possible(const Frame& f) { return f.b < f.node->props.size() || f.node->additional; }

bool consume_object(Frame& f, uint8_t b) {
  switch (f.phase) {
    case O_OPEN:
      if (b != '{') return false;
      f.phase = O_FIRST;
      return true;
    case O_FIRST:
      if (b == '}' && object_closable(f)) {
        f.phase = O_DONE;
        return true;
      }
      return eat_ws(f, b);
    case O_AFTER_KEY:
      if (b == ':') {
        f.phase = O_BEFORE_VALUE;
        f.a = 0;
        return true;
      }
      return eat_ws(f, b);
    case O_AFTER_VALUE:
      if (b == ',' && object_key_possible(f)) {
        f.phase = O_KEY;
        f.a = 0;
        return true;
      }
      if (b == '}' && object_closable(f)) {
        f.phase = O_DONE;
        return true;
      }
      return eat_ws(f, b);
    case O_KEY:
    case O_BEFORE_VALUE:
      return eat_ws(f, b);
    default:
      return false;
  }
}

const Node* array_item(const Frame& f) {
  const Node* n = f.node;
  if (n->max >= 0 && f.b >= static_cast<uint32_t>(n->max)) return nullptr;
  return f.b < n->items.size() ? n->items[f.b] : n->item;
}

bool consume_array(Frame& f, uint8_t b) {
  const Node* n = f.node;
  switch (f.phase) {
    case A_OPEN:
      if (b != '[') return false;
      f.phase = A_FIRST;
      return true;
    case A_FIRST:
    case A_AFTER_ITEM:
      if (b == ']' && f.b >= static_cast<uint32_t>(n->min)) {
        f.phase = A_DONE;
        return true;
      }
      if (b == ',' && f.phase == A_AFTER_ITEM && array_item(f)) {
        f.phase = A_ITEM;
        f.a = 0;
        return true;
      }
      return eat_ws(f, b);
    case A_ITEM:
      return eat_ws(f, b);
    default:
      return false;
  }
}

bool consume_literal_set(Frame& f, uint8_t b) {
  if (!narrow(f.node->strings, f.a, f.b, f.phase, b)) return false;
  ++f.phase;
  return true;
}

}  // namespace

bool consume(Frame& f, uint8_t b) {
  const Node* n = f.node;
  switch (n->kind) {
    case Kind::Literal:
      if (f.phase >= n->text.size() || static_cast<uint8_t>(n->text[f.phase]) != b) return false;
      ++f.phase;
      return true;
    case Kind::ByteSet:
      if (f.phase != 0 || !(n->bytes[b >> 6] >> (b & 63) & 1)) return false;
      f.phase = 1;
      return true;
    case Kind::LiteralSet:
      return consume_literal_set(f, b);
    case Kind::String:
      return consume_string(f, b);
    case Kind::Number:
      return consume_number(f, b);
    case Kind::Object:
      return consume_object(f, b);
    case Kind::Array:
      return consume_array(f, b);
    default:
      return false;  // structural nodes never sit on top of a ready stack
  }
}

namespace {

// Epsilon closure of one stack: brings it (and the alternatives it forks) to ready stacks in `out`.
class Settler {
 public:
  Settler(Config& out, Scratch& sc) : out_(out), sc_(sc) {}

  // Settles sc.work and everything forked from it.
  void run_all() {
    sc_.n_seen = 0;
    run(sc_.work);
    while (sc_.n_pending > 0) {
      std::swap(sc_.work, sc_.pending[--sc_.n_pending]);
      run(sc_.work);
    }
  }

 private:
  Config& out_;
  Scratch& sc_;

  std::vector<Frame>& fork(const std::vector<Frame>& s) {
    if (sc_.n_pending == sc_.pending.size()) sc_.pending.emplace_back();
    std::vector<Frame>& t = sc_.pending[sc_.n_pending++];
    t.assign(s.begin(), s.end());
    return t;
  }

  void emit(const std::vector<Frame>& s) {
    if (out_.stacks() >= kMaxStacks) return;
    uint64_t h = hash_stack(s.data(), s.size());
    for (size_t k = 0; k < out_.hashes.size(); ++k) {
      if (out_.hashes[k] != h) continue;
      uint32_t begin = out_.begin_of(k);
      if (out_.ends[k] - begin == s.size() &&
          std::memcmp(out_.frames.data() + begin, s.data(), s.size() * sizeof(Frame)) == 0)
        return;
    }
    out_.frames.insert(out_.frames.end(), s.begin(), s.end());
    out_.ends.push_back(static_cast<uint32_t>(out_.frames.size()));
    out_.hashes.push_back(h);
  }

  // A Repeat whose iteration can match nothing would return to the same stack forever; remember the
  // stacks it iterated from and iterate from each only once.
  bool first_visit(const std::vector<Frame>& s) {
    for (size_t k = 0; k < sc_.n_seen; ++k) {
      const std::vector<Frame>& t = sc_.seen[k];
      if (t.size() == s.size() && std::memcmp(t.data(), s.data(), s.size() * sizeof(Frame)) == 0) return false;
    }
    if (sc_.n_seen == sc_.seen.size()) sc_.seen.emplace_back();
    sc_.seen[sc_.n_seen++].assign(s.begin(), s.end());
    return true;
  }

  void repeat_more(std::vector<Frame>& s) {
    const Node* n = s.back().node;
    Frame& f = s.back();
    uint32_t count = f.phase == 0 ? 0 : f.a;
    uint32_t next = count + 1;
    if (n->max < 0) next = std::min(next, static_cast<uint32_t>(std::max(n->min, 1)));
    bool first = f.phase == 0;
    f.phase = 1;
    f.a = next;
    s.push_back(initial_frame(n->item));
    if (!first && n->separator) s.push_back(initial_frame(n->separator));
  }

  void run(std::vector<Frame>& s) {
    for (;;) {
      if (s.empty()) {
        out_.accept = true;
        return;
      }
      if (s.size() > kMaxFrames) return;
      Frame& f = s.back();
      const Node* n = f.node;
      switch (n->kind) {
        case Kind::Literal:
          if (f.phase < n->text.size()) return emit(s);
          s.pop_back();
          continue;
        case Kind::ByteSet:
          if (f.phase == 0) return emit(s);
          s.pop_back();
          continue;
        case Kind::LiteralSet: {
          if (f.a >= f.b) return;  // empty set
          bool ends = n->strings[f.a].size() == f.phase;
          if (f.b - f.a > 1 || !ends) emit(s);
          if (!ends) return;
          s.pop_back();
          continue;
        }
        case Kind::Sequence:
          if (f.phase >= n->items.size()) {
            s.pop_back();
          } else if (f.phase + 1 == n->items.size()) {
            f = initial_frame(n->items[f.phase]);  // the last item replaces the sequence: stacks stay shallow
          } else {
            const Node* item = n->items[f.phase++];
            s.push_back(initial_frame(item));
          }
          continue;
        case Kind::Choice:
          if (n->items.empty()) return;
          for (size_t i = 1; i < n->items.size(); ++i) fork(s).back() = initial_frame(n->items[i]);
          s.back() = initial_frame(n->items[0]);
          continue;
        case Kind::Ref:
          f = initial_frame(n->item);
          continue;
        case Kind::Repeat: {
          uint32_t count = f.phase == 0 ? 0 : f.a;
          bool can_stop = static_cast<int64_t>(count) >= n->min;
          bool can_more = n->max < 0 || static_cast<int64_t>(count) < n->max;
          if (can_more && f.phase == 1 && n->item->nullable && (!n->separator || n->separator->nullable))
            can_more = first_visit(s);
          if (can_more) {
            if (can_stop) {
              repeat_more(fork(s));
            } else {
              repeat_more(s);
              continue;
            }
          }
          if (!can_stop) return;
          s.pop_back();
          continue;
        }
        case Kind::String:
          if (f.phase != S_DONE) return emit(s);
          s.pop_back();
          continue;
        case Kind::Number: {
          bool ends = number_can_end(f);
          if (number_can_continue(f)) emit(s);
          if (!ends) return;
          s.pop_back();
          continue;
        }
        case Kind::Object:
          if (!settle_object(s)) return;
          continue;
        case Kind::Array:
          if (!settle_array(s)) return;
          continue;
      }
    }
  }

  // Returns whether `s` changed and needs settling again.
  bool settle_object(std::vector<Frame>& s) {
    Frame& f = s.back();
    const Node* n = f.node;
    const uint32_t n_props = static_cast<uint32_t>(n->props.size());
    switch (f.phase) {
      case O_DONE:
        s.pop_back();
        return true;
      case O_FIRST:
      case O_KEY: {
        bool closable = object_closable(f);
        if (f.a < kMaxWhitespace || (f.phase == O_FIRST && closable)) emit(s);
        // The keys that may come next: declared ones up to and including the next required one, in schema
        // order; other keys once no required one is left.
        uint32_t next = f.b;
        uint32_t last = next < n_props ? std::min(n->first_required[next], n_props - 1) : next;
        bool extra = n->additional && closable;
        uint32_t options = (next < n_props ? last - next + 1 : 0) + (extra ? 1 : 0);
        if (options == 0) return false;
        auto choose = [&](std::vector<Frame>& t, uint32_t j) {
          Frame& g = t.back();
          g.phase = O_AFTER_KEY;
          g.a = 0;
          g.b = j < n_props ? j + 1 : n_props;
          g.c = j;
          t.push_back(initial_frame(j < n_props ? n->props[j].key : n->additional_key));
        };
        uint32_t done = 0;
        for (uint32_t j = next; j < n_props && j <= last; ++j)
          if (++done < options) choose(fork(s), j);
        choose(s, next < n_props && !extra ? last : n_props);
        return true;
      }
      case O_BEFORE_VALUE: {
        if (f.a < kMaxWhitespace) emit(s);
        const Node* value = f.c < n_props ? n->props[f.c].value : n->additional;
        f.phase = O_AFTER_VALUE;
        f.a = 0;
        s.push_back(initial_frame(value));
        return true;
      }
      default:
        emit(s);
        return false;
    }
  }

  bool settle_array(std::vector<Frame>& s) {
    Frame& f = s.back();
    const Node* n = f.node;
    switch (f.phase) {
      case A_DONE:
        s.pop_back();
        return true;
      case A_FIRST:
      case A_ITEM: {
        bool closable = f.phase == A_FIRST && f.b >= static_cast<uint32_t>(n->min);
        if (f.a < kMaxWhitespace || closable) emit(s);
        const Node* item = array_item(f);
        if (!item) return false;
        uint32_t next = f.b + 1;
        uint32_t enough = static_cast<uint32_t>(std::max<size_t>(n->min, n->items.size()));
        if (n->max < 0 && next > enough) next = std::max(enough, f.b);  // more items change nothing
        f.phase = A_AFTER_ITEM;
        f.a = 0;
        f.b = next;
        s.push_back(initial_frame(item));
        return true;
      }
      default:
        emit(s);
        return false;
    }
  }
};

}  // namespace

uint64_t hash_stack(const Frame* f, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  const auto* words = reinterpret_cast<const unsigned char*>(f);
  for (size_t i = 0; i < n * sizeof(Frame); i += 8) {
    uint64_t w;
    std::memcpy(&w, words + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  return h;
}

void start_config(const Node* root, Config& out, Scratch& sc) {
  out.clear();
  sc.work.assign(1, initial_frame(root));
  Settler(out, sc).run_all();
}

bool step(const Config& in, uint8_t byte, Config& out, Scratch& sc) {
  out.clear();
  for (size_t k = 0; k < in.stacks(); ++k) {
    uint32_t begin = in.begin_of(k), end = in.ends[k];
    Frame top = in.frames[end - 1];
    if (!consume(top, byte)) continue;
    sc.work.assign(in.frames.begin() + begin, in.frames.begin() + end - 1);
    sc.work.push_back(top);
    Settler(out, sc).run_all();
  }
  return out.stacks() > 0 || out.accept;
}

}  // namespace exaone::grammar

#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <new>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace exaone::tok {

namespace {

// Oniguruma's Unicode \s: U+0009..U+000D, U+0085 and the separators (Zs, Zl, Zp). PCRE2's UCP \s also takes
// U+180E, so the class is spelled out.
constexpr const char* kSpaceItems = "\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}";
// Oniguruma's Unicode \w is the UTS #18 word class: Alphabetic, Mark, Decimal_Number, Connector_Punctuation and
// Join_Control (PCRE2 10.42's UCP \w is only letters, numbers and underscore).
constexpr const char* kWordItems = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";
constexpr const char* kHexItems = "0-9a-fA-F";

// Per-thread PCRE2 state: match data (one ovector pair is enough, we only read the whole match) and a JIT stack
// large enough for long runs (e.g. K-EXAONE superwords of thousands of letters).
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
    if (!data || !context || !stack) throw std::bad_alloc();
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~MatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

MatchState& match_state() {
  thread_local MatchState state;
  return state;
}

std::string escape_literal(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x80 && !std::isalnum(c)) {
      char buf[12];
      std::snprintf(buf, sizeof buf, "\\x{%X}", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace

std::string onig_to_pcre2(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 32);
  int class_depth = 0;  // inside [...]
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char n = p[i + 1];
      const char* items = nullptr;
      bool negated = false;
      switch (n) {
        case 's': items = kSpaceItems; break;
        case 'S': items = kSpaceItems; negated = true; break;
        case 'w': items = kWordItems; break;
        case 'W': items = kWordItems; negated = true; break;
        case 'h': items = kHexItems; break;
        case 'H': items = kHexItems; negated = true; break;
        default: break;
      }
      if (items && class_depth == 0) {
        out += negated ? "[^" : "[";
        out += items;
        out += "]";
      } else if (items && !negated) {
        out += items;  // merged into the enclosing class
      } else {
        // Other escapes (and negated shorthands inside a class, kept with PCRE2's meaning) pass through.
        out.push_back(c);
        out.push_back(n);
      }
      ++i;
      continue;
    }
    if (c == '[') {
      if (class_depth > 0 && i + 1 < p.size() && p[i + 1] == ':') {  // POSIX [:alpha:] inside a class
        size_t end = p.find(":]", i + 2);
        if (end != std::string_view::npos) {
          out.append(p.substr(i, end + 2 - i));
          i = end + 1;
          continue;
        }
      }
      ++class_depth;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out.push_back('^');
        ++i;
      }
      if (i + 1 < p.size() && p[i + 1] == ']') {
        out.push_back(']');
        ++i;
      }
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out.push_back(c);
  }
  return out;
}

Regex::Regex(const std::string& pattern, bool literal, const std::string& where) : source_(pattern) {
  std::string translated = literal ? escape_literal(pattern) : onig_to_pcre2(pattern);
  pcre2_compile_context* cctx = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &offset, cctx);
  pcre2_compile_context_free(cctx);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(where + ": cannot compile regex '" + pattern + "' at offset " + std::to_string(offset) + ": " +
         reinterpret_cast<const char*>(msg));
  }
  code_ = std::shared_ptr<void>(code, [](void* c) { pcre2_code_free(static_cast<pcre2_code*>(c)); });
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

size_t Regex::char_len(std::string_view text, size_t i) {
  unsigned char b = static_cast<unsigned char>(text[i]);
  return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

bool Regex::find(std::string_view text, size_t start, size_t& s, size_t& e) const {
  MatchState& st = match_state();
  auto* code = static_cast<pcre2_code*>(code_.get());
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), start, 0, st.data, st.context)
                : pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, st.data, st.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    fail("tokenizer: regex '" + source_ + "' failed on a " + std::to_string(text.size()) +
         "-byte piece: " + reinterpret_cast<const char*>(msg));
  }
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
  s = ov[0];
  e = ov[1];
  return true;
}

bool Regex::full_match(std::string_view text) const {
  size_t s, e;
  return find(text, 0, s, e) && s == 0 && e == text.size();
}

const std::shared_ptr<const Regex>& gpt2_regex() {
  static const std::shared_ptr<const Regex> re = std::make_shared<Regex>(
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", false, "ByteLevel");
  return re;
}

void split_with_behavior(std::string_view piece, const Regex& re, SplitBehavior behavior, bool invert,
                         std::vector<std::string_view>& out) {
  struct Part {
    size_t start, end;
    bool is_match;
  };
  thread_local std::vector<Part> parts;
  parts.clear();
  size_t prev = 0;
  re.for_each_match(piece, [&](size_t s, size_t e) {
    if (prev != s) parts.push_back({prev, s, invert});
    parts.push_back({s, e, !invert});
    prev = e;
  });
  if (prev != piece.size()) parts.push_back({prev, piece.size(), invert});

  auto emit = [&](size_t s, size_t e) {
    if (e > s) out.push_back(piece.substr(s, e - s));
  };
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const Part& p : parts) emit(p.start, p.end);
      break;
    case SplitBehavior::Removed:
      for (const Part& p : parts)
        if (!p.is_match) emit(p.start, p.end);
      break;
    case SplitBehavior::Contiguous:
    case SplitBehavior::MergedWithPrevious: {
      // Fold matches into the previous part (Contiguous: also non-matches into non-matches).
      thread_local std::vector<Part> merged;
      merged.clear();
      bool previous_match = false;
      for (const Part& p : parts) {
        bool join = behavior == SplitBehavior::Contiguous ? p.is_match == previous_match
                                                          : p.is_match && !previous_match;
        if (join && !merged.empty())
          merged.back().end = p.end;
        else
          merged.push_back(p);
        previous_match = p.is_match;
      }
      for (const Part& p : merged) emit(p.start, p.end);
      break;
    }
    case SplitBehavior::MergedWithNext: {
      thread_local std::vector<Part> merged;
      merged.clear();
      bool previous_match = false;
      for (size_t k = parts.size(); k-- > 0;) {
        const Part& p = parts[k];
        if (p.is_match && !previous_match && !merged.empty())
          merged.back().start = p.start;
        else
          merged.push_back(p);
        previous_match = p.is_match;
      }
      for (size_t k = merged.size(); k-- > 0;) emit(merged[k].start, merged[k].end);
      break;
    }
  }
}

void PreTokenizer::add_split(std::shared_ptr<const Regex> re, SplitBehavior behavior, bool invert) {
  steps_.push_back(Step{Kind::Split, std::move(re), behavior, invert, false});
}

void PreTokenizer::add_byte_level(bool add_prefix_space, bool use_regex) {
  steps_.push_back(Step{Kind::ByteLevel, use_regex ? gpt2_regex() : nullptr, SplitBehavior::Isolated, false,
                        add_prefix_space});
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces, PieceArena& arena) const {
  size_t first = pieces.size();
  pieces.push_back(text);
  thread_local std::vector<std::string_view> next;
  for (size_t k = 0; k < steps_.size(); ++k) {
    const Step& step = steps_[k];
    next.clear();
    for (size_t i = first; i < pieces.size(); ++i) {
      std::string_view piece = pieces[i];
      if (step.kind == Kind::Split) {
        split_with_behavior(piece, *step.regex, step.behavior, step.invert, next);
        continue;
      }
      // ByteLevel: optional prefix space, optional GPT-2 split, then the byte mapping. The mapping of the last
      // step is left to the model (it works on raw bytes); an earlier one is applied here so that later steps
      // see the mapped text, as in HF.
      if (step.add_prefix_space && piece.front() != ' ') {
        arena.emplace_back(" ");
        arena.back().append(piece);
        piece = arena.back();
      }
      size_t from = next.size();
      if (step.regex)
        split_with_behavior(piece, *step.regex, SplitBehavior::Isolated, false, next);
      else
        next.push_back(piece);
      if (k + 1 < steps_.size()) {
        const auto& table = unicode::byte_to_unicode();
        for (size_t j = from; j < next.size(); ++j) {
          std::string mapped;
          for (unsigned char b : next[j]) unicode::append_utf8(mapped, table[b]);
          arena.push_back(std::move(mapped));
          next[j] = arena.back();
        }
      }
    }
    pieces.resize(first);
    pieces.insert(pieces.end(), next.begin(), next.end());
  }
}

}  // namespace exaone::tok

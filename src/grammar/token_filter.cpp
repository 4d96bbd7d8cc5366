// TokenFilter: the vocabulary as a byte trie, walked depth-first with one configuration per depth;
// a subtree is skipped as soon as its prefix is rejected.
//
// Inside a JSON string most bytes change nothing but the string's own frame (UTF-8 decoder state,
// length), so while every stack has the same string-body frame on top the walk carries only that
// frame and steps the full configuration again at '"' and '\\'. At a character boundary of a string
// every token made of plain string bytes fits if its characters fit the length left: those come from
// a list sorted by characters, and the walk covers only a second trie of the other tokens; deeper in
// the walk, a subtree whose tokens all continue with plain content is taken whole.
#include <algorithm>
#include <cstring>

#include "grammar/engine.h"
#include "grammar/grammar.h"
#include "util/error.h"

namespace exaone::grammar {

namespace {

// out[d]: s[d..] is plain string content from a character boundary (a character may be cut at the end).
void plain_suffixes(std::string_view s, std::vector<char>& out) {
  out.assign(s.size() + 1, 0);
  out[s.size()] = 1;
  for (size_t d = s.size(); d-- > 0;) {
    uint8_t b = static_cast<uint8_t>(s[d]);
    if (b == '"' || b == '\\') continue;
    uint32_t state = string_body_byte(0, b);
    size_t k = d + 1;
    while (state != 0 && state != kBadUtf8 && k < s.size())
      state = string_body_byte(state, static_cast<uint8_t>(s[k++]));
    out[d] = state != kBadUtf8 && out[k];
  }
}

// Tokens in preorder; node 0 is the empty prefix.
struct Trie {
  std::vector<uint8_t> byte;
  std::vector<uint16_t> depth;
  std::vector<uint32_t> skip;       // the node after this node's subtree
  std::vector<uint32_t> ids_begin;  // tokens ending at node i: ids[ids_begin[i] .. ids_begin[i + 1])
  std::vector<int> ids;
  // plain_below[i]: every token below node i continues it with plain string content from a character
  // boundary (see plain_string_chars), so in an unlimited string all of them fit.
  std::vector<char> plain_below;
  uint32_t max_depth = 0;

  void build(const std::vector<std::string>& bytes, const std::vector<int>& members) {
    std::vector<int> order = members;
    std::sort(order.begin(), order.end(),
              [&](int x, int y) { return bytes[x] < bytes[y] || (bytes[x] == bytes[y] && x < y); });
    byte.assign(1, 0);
    depth.assign(1, 0);
    ids_begin.assign(1, 0);
    plain_below.assign(1, 1);
    std::vector<char> plain_from;
    std::vector<uint32_t> path{0};  // path[d]: the node of the current token's first d bytes
    std::string_view prev;
    for (int id : order) {
      std::string_view s = bytes[id];
      size_t common = 0;
      while (common < prev.size() && common < s.size() && prev[common] == s[common]) ++common;
      path.resize(common + 1);
      for (size_t d = common + 1; d <= s.size(); ++d) {
        path.push_back(static_cast<uint32_t>(byte.size()));
        byte.push_back(static_cast<uint8_t>(s[d - 1]));
        depth.push_back(static_cast<uint16_t>(d));
        ids_begin.push_back(static_cast<uint32_t>(ids.size()));
        plain_below.push_back(1);
      }
      plain_suffixes(s, plain_from);
      for (size_t d = 0; d < s.size(); ++d)
        if (!plain_from[d]) plain_below[path[d]] = 0;
      ids.push_back(id);  // sorted order: the token's node is always the newest one
      max_depth = std::max(max_depth, static_cast<uint32_t>(s.size()));
      prev = s;
    }
    ids_begin.push_back(static_cast<uint32_t>(ids.size()));
    skip.assign(byte.size(), static_cast<uint32_t>(byte.size()));
    std::vector<uint32_t> open;
    for (uint32_t i = 0; i < byte.size(); ++i) {
      while (!open.empty() && depth[open.back()] >= depth[i]) {
        skip[open.back()] = i;
        open.pop_back();
      }
      open.push_back(i);
    }
  }
};

// The characters a token starts when it is plain string content from a character boundary (no '"',
// '\\' or control byte, valid UTF-8; a character may be cut at the end); -1 when it is not.
int plain_string_chars(std::string_view s) {
  uint32_t state = 0;
  int chars = 0;
  for (char c : s) {
    uint8_t b = static_cast<uint8_t>(c);
    if (state == 0 && (b == '"' || b == '\\')) return -1;
    chars += state == 0;
    state = string_body_byte(state, b);
    if (state == kBadUtf8) return -1;
  }
  return chars;
}

// The stacks of `from` whose entry in `tops` is alive (node set), each with that top frame.
void with_tops(const Config& from, const std::vector<Frame>& tops, Config& out) {
  out.clear();
  for (size_t k = 0; k < from.stacks(); ++k) {
    if (!tops[k].node) continue;
    uint32_t begin = from.begin_of(k), end = from.ends[k];
    size_t at = out.frames.size();
    out.frames.insert(out.frames.end(), from.frames.begin() + begin, from.frames.begin() + end - 1);
    out.frames.push_back(tops[k]);
    out.ends.push_back(static_cast<uint32_t>(out.frames.size()));
    out.hashes.push_back(hash_stack(out.frames.data() + at, end - begin));
  }
}

struct Level {
  Config own;
  const Config* config = nullptr;  // own, or an ancestor's while in a string body
  bool in_string = false;          // every stack's top is a string body: tops[k] (node null: rejected)
  bool tops_changed = false;       // the tops differ from what *config holds
  bool plain = false;              // some stack is a string body where any plain string content fits
  std::vector<Frame> tops;
};

void enter(Level& level, const Config* config) {
  level.config = config;
  level.tops_changed = false;
  level.in_string = config->stacks() > 0;
  level.plain = false;
  level.tops.clear();
  for (size_t k = 0; k < config->stacks() && level.in_string; ++k) {
    const Frame& top = config->frames[config->ends[k] - 1];
    level.in_string = is_string_body(top);
    level.plain = level.plain || plain_string_room(top) < 0;
    level.tops.push_back(top);
  }
  level.plain = level.plain && level.in_string;
}

// Marks the tokens of `trie` that may follow `root`.
void walk(const Trie& trie, const Config& root, std::vector<char>& allowed) {
  std::vector<Level> levels(trie.max_depth + 1);
  Scratch sc;
  Config patched;
  enter(levels[0], &root);
  const uint32_t n = static_cast<uint32_t>(trie.byte.size());
  for (uint32_t i = 1; i < n;) {
    Level& up = levels[trie.depth[i] - 1];
    Level& me = levels[trie.depth[i]];
    const uint8_t b = trie.byte[i];
    bool ok = false;
    if (up.in_string && b != '"' && b != '\\') {
      // Plain bytes keep every stack in its string body: only the tops change.
      me.tops.resize(up.tops.size());
      me.plain = false;
      for (size_t k = 0; k < up.tops.size(); ++k) {
        Frame& t = me.tops[k];
        t = up.tops[k];
        if (t.node && consume(t, b)) {
          ok = true;
          me.plain = me.plain || plain_string_room(t) < 0;
        } else {
          t.node = nullptr;
        }
      }
      me.config = up.config;
      me.in_string = true;
      me.tops_changed = true;
    } else {
      const Config* from = up.config;
      if (up.tops_changed) {
        with_tops(*up.config, up.tops, patched);
        from = &patched;
      }
      ok = step(*from, b, me.own, sc);
      if (ok) enter(me, &me.own);
    }
    if (!ok) {
      i = trie.skip[i];
      continue;
    }
    if (me.plain && trie.plain_below[i]) {  // the whole subtree fits
      for (uint32_t k = trie.ids_begin[i]; k < trie.ids_begin[trie.skip[i]]; ++k) allowed[trie.ids[k]] = 1;
      i = trie.skip[i];
      continue;
    }
    for (uint32_t k = trie.ids_begin[i]; k < trie.ids_begin[i + 1]; ++k) allowed[trie.ids[k]] = 1;
    ++i;
  }
}

// When every stack's top is a string body at a character boundary (and not a key checked against declared
// names): how many characters of plain string content may come (-1: any number); else 0.
int64_t plain_string_room(const Config& c) {
  if (c.stacks() == 0) return 0;
  int64_t most = 0;
  for (size_t k = 0; k < c.stacks(); ++k) {
    const Frame& top = c.frames[c.ends[k] - 1];
    if (!is_string_body(top) || top.a != 0 || top.d != 0) return 0;
    int64_t room = plain_string_room(top);
    most = room < 0 || most < 0 ? -1 : std::max(most, room);
  }
  return most;
}

}  // namespace

struct TokenFilter::Impl {
  int vocab = 0;
  std::vector<std::string> bytes;  // by id; empty: never allowed
  std::vector<char> is_end;
  std::vector<int> end_ids;
  std::vector<int> plain_chars;  // by id: see plain_string_chars
  std::vector<int> plain_ids;    // the ids of plain string content, fewest characters first
  Trie all;                      // every token
  Trie other;                    // the tokens that are not plain string content

  Impl(std::vector<std::string> tokens, std::vector<int> ends) {
    int size = static_cast<int>(tokens.size());
    for (int id : ends) {
      if (id < 0) fail("TokenFilter: negative end id " + std::to_string(id));
      size = std::max(size, id + 1);  // an end id past the tokenizer's vocabulary still gets a mask entry
    }
    tokens.resize(size);
    vocab = size;
    is_end.assign(vocab, 0);
    for (int id : ends) {
      if (!is_end[id]) end_ids.push_back(id);
      is_end[id] = 1;
      tokens[id].clear();
    }
    bytes = std::move(tokens);
    plain_chars.assign(vocab, -1);
    std::vector<int> members, others;
    for (int id = 0; id < vocab; ++id) {
      if (bytes[id].empty() || bytes[id].size() > 0xFFFF) continue;
      members.push_back(id);
      plain_chars[id] = plain_string_chars(bytes[id]);
      (plain_chars[id] >= 0 ? plain_ids : others).push_back(id);
    }
    std::stable_sort(plain_ids.begin(), plain_ids.end(), [&](int x, int y) { return plain_chars[x] < plain_chars[y]; });
    all.build(bytes, members);
    other.build(bytes, others);
  }
};

TokenFilter::TokenFilter(std::vector<std::string> tokens, std::vector<int> end_ids)
    : impl_(std::make_unique<Impl>(std::move(tokens), std::move(end_ids))) {}

TokenFilter::TokenFilter(const Tokenizer& tokenizer, std::vector<int> end_ids) {
  std::vector<std::string> tokens(std::max(tokenizer.vocab_size(), 0));
  for (int id = 0; id < static_cast<int>(tokens.size()); ++id) {
    try {
      if (tokenizer.is_special(id)) continue;  // end ids are added by Impl
      tokens[id] = std::string(tokenizer.token_bytes(id, /*skip_special=*/false));
    } catch (const Error&) {
      // no token with this id
    }
  }
  impl_ = std::make_unique<Impl>(std::move(tokens), std::move(end_ids));
}

TokenFilter::~TokenFilter() = default;

int TokenFilter::vocab_size() const { return impl_->vocab; }

std::string_view TokenFilter::token_bytes(int id) const {
  if (id < 0 || id >= impl_->vocab) return {};
  return impl_->bytes[id];
}

bool TokenFilter::accepts(const Matcher& m, int id) const {
  const Impl& t = *impl_;
  if (id < 0 || id >= t.vocab) return false;
  if (t.is_end[id]) return m.can_end();
  const std::string& text = t.bytes[id];
  if (text.empty()) return false;
  const Config& root = m.s_->config;
  if (t.plain_chars[id] >= 0) {
    int64_t room = plain_string_room(root);
    if (room < 0 || (room > 0 && t.plain_chars[id] <= room)) return true;
  }
  Scratch sc;
  Config a, b;
  const Config* cur = &root;
  for (char c : text) {
    Config& next = cur == &a ? b : a;
    if (!step(*cur, static_cast<uint8_t>(c), next, sc)) return false;
    cur = &next;
  }
  return true;
}

void TokenFilter::allowed(const Matcher& m, std::vector<char>& allowed) const {
  const Impl& t = *impl_;
  allowed.assign(t.vocab, 0);
  const Config& root = m.s_->config;
  if (root.accept)
    for (int id : t.end_ids) allowed[id] = 1;
  if (root.stacks() == 0) return;
  int64_t room = plain_string_room(root);
  if (room != 0) {
    for (int id : t.plain_ids) {
      if (room > 0 && t.plain_chars[id] > room) break;
      allowed[id] = 1;
    }
    walk(t.other, root, allowed);
  } else {
    walk(t.all, root, allowed);
  }
}

}  // namespace exaone::grammar

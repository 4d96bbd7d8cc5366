#include "grammar/grammar.h"

#include <utility>

#include "grammar/engine.h"
#include "util/error.h"

namespace exaone::grammar {

NodePtr literal(std::string text) {
  auto n = std::make_shared<Node>();
  n->kind = Kind::Literal;
  n->nullable = text.empty();
  n->text = std::move(text);
  return n;
}

NodePtr sequence(std::vector<NodePtr> items) {
  auto n = std::make_shared<Node>();
  n->kind = Kind::Sequence;
  n->nullable = true;
  for (const NodePtr& item : items) {
    if (!item) fail("grammar::sequence: null item");
    n->items.push_back(item.get());
    n->nullable = n->nullable && item->nullable;
  }
  n->keep = std::move(items);
  return n;
}

NodePtr choice(std::vector<NodePtr> alternatives) {
  auto n = std::make_shared<Node>();
  n->kind = Kind::Choice;
  for (const NodePtr& alt : alternatives) {
    if (!alt) fail("grammar::choice: null alternative");
    n->items.push_back(alt.get());
    n->nullable = n->nullable || alt->nullable;
  }
  n->keep = std::move(alternatives);
  return n;
}

NodePtr repeat(NodePtr item, int min, int max, NodePtr separator) {
  if (!item) fail("grammar::repeat: null item");
  if (min < 0 || (max >= 0 && max < min))
    fail("grammar::repeat: bad count range " + std::to_string(min) + ".." + std::to_string(max));
  auto n = std::make_shared<Node>();
  n->kind = Kind::Repeat;
  n->item = item.get();
  n->separator = separator.get();
  n->min = min;
  n->max = max;
  n->nullable = min == 0 || item->nullable;
  n->keep.push_back(std::move(item));
  if (separator) n->keep.push_back(std::move(separator));
  return n;
}

// ---------------------------------------------------------------------------------------------
// Matcher

Matcher::Matcher(NodePtr root) : s_(std::make_unique<State>()) {
  if (!root) fail("grammar::Matcher: null grammar");
  Scratch sc;
  start_config(root.get(), s_->config, sc);
  s_->root = std::move(root);
}

Matcher::~Matcher() = default;
Matcher::Matcher(const Matcher& o) : s_(std::make_unique<State>(*o.s_)) {}
Matcher& Matcher::operator=(const Matcher& o) {
  if (this != &o) s_ = std::make_unique<State>(*o.s_);
  return *this;
}
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;

bool Matcher::advance(std::string_view bytes) {
  if (bytes.empty()) return true;
  Scratch sc;
  Config a, b;
  const Config* cur = &s_->config;
  for (char c : bytes) {
    Config& next = cur == &a ? b : a;
    if (!step(*cur, static_cast<uint8_t>(c), next, sc)) return false;
    cur = &next;
  }
  s_->config = std::move(cur == &a ? a : b);
  return true;
}

bool Matcher::can_end() const { return s_->config.accept; }
bool Matcher::must_end() const { return s_->config.stacks() == 0; }

}  // namespace exaone::grammar

// Grammar-constrained decoding: a grammar describes the texts the model may write (a JSON value
// valid under a JSON Schema, literal tags, sequences, choices, repetitions); a Matcher follows the
// bytes generated so far; a TokenFilter says which vocabulary tokens may come next.
//
// Used by the server for response_format json_schema / json_object and for tool_choice
// "required" / a named function (<tool_call>{json}</tool_call> blocks), so such output always
// parses and validates.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/json_file.h"

namespace exaone::grammar {

struct Node;  // opaque grammar node
using NodePtr = std::shared_ptr<const Node>;

// Exactly these bytes.
NodePtr literal(std::string text);
// A JSON value valid under `schema` (JSON Schema subset: type (string or list), properties,
// required, additionalProperties, items, prefixItems, minItems, maxItems, enum, const, anyOf,
// oneOf, allOf of one, $ref to #/$defs/... or #/definitions/..., string minLength/maxLength and
// format (date, time, date-time, uuid), number/integer minimum/maximum, nullable). `{}` or
// `true`: any JSON value. Keywords that only annotate (title, description, default, examples,
// $schema, $id) are ignored. Unsupported keywords that constrain (pattern, ...) or a malformed
// schema throw exaone::Error naming the schema path ("schema.properties.age.type: ...").
// Whitespace between JSON tokens is allowed but bounded, so the model cannot loop on it.
//
// Choices made where JSON Schema leaves room or a generator needs a bound:
// - Object properties come in the schema's `properties` order (as llama.cpp's
//   json-schema-to-grammar requires); optional ones may be skipped, required ones must appear.
//   Required names missing from `properties` follow them, with any value.
// - additionalProperties defaults to false when `properties` is given; when it is true or a
//   schema, other keys may follow the declared ones (never a declared name, as written without
//   escapes). No `properties` and no additionalProperties: any object.
// - Whitespace: at most 20 consecutive bytes (space, tab, CR, LF) at each place JSON allows it;
//   none before or after the top-level value.
// - Numbers: at most 19 integer digits, 20 fraction digits, 2 exponent digits. `integer` takes
//   no fraction or exponent. With minimum/maximum (or their exclusive forms) no exponent is
//   allowed and every digit is checked to still reach a value in range (in double precision).
// - Strings: minLength/maxLength count code points (an escape is one, a surrogate pair one);
//   \uXXXX must form valid UTF-16 (lone surrogates do not parse). With format date, time,
//   date-time or uuid the string follows the format's shape (per-digit ranges, not a calendar)
//   and minLength/maxLength are not checked; other formats are annotations. enum/const match the
//   compact serialization (json::dump) exactly.
// - oneOf is matched as anyOf. anyOf/oneOf/allOf/$ref take only annotation keywords beside them.
// - Limits: schemas nest at most 64 levels deep; a $ref that loops back to itself without a
//   container in between is an error; generated values nest at most about 150 levels; at most
//   512 parse alternatives are followed at once (more only arise from schemas with hundreds of
//   anyOf branches sharing a prefix; the excess is dropped).
NodePtr json_value(const json& schema);
NodePtr sequence(std::vector<NodePtr> items);
NodePtr choice(std::vector<NodePtr> alternatives);
// item (separator item)* repeated min..max times; max < 0: unbounded. separator may be null.
NodePtr repeat(NodePtr item, int min, int max, NodePtr separator = nullptr);

// State of a text being generated under a grammar. Cheap to copy.
class Matcher {
 public:
  explicit Matcher(NodePtr root);
  ~Matcher();
  Matcher(const Matcher&);
  Matcher& operator=(const Matcher&);
  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;

  // Feeds bytes (any split, UTF-8 characters may be cut). Returns false and leaves the state
  // unchanged when they cannot continue any text of the grammar.
  bool advance(std::string_view bytes);
  // The bytes so far form a complete text of the grammar (generation may stop here).
  bool can_end() const;
  // Nothing more can follow (generation must stop here).
  bool must_end() const;

  struct State;

 private:
  friend class TokenFilter;
  std::unique_ptr<State> s_;
};

// Which tokens of a vocabulary may come next. Built once per tokenizer (a trie of the tokens'
// bytes, shared by all requests); thread-safe for concurrent use.
class TokenFilter {
 public:
  // `end_ids`: tokens that end generation (eos); allowed when the matcher can_end().
  // Special tokens other than end ids are never allowed. vocab_size() is the tokenizer's, or
  // more where an end id lies past it.
  TokenFilter(const Tokenizer& tokenizer, std::vector<int> end_ids);
  // A vocabulary given as bytes: tokens[id] is what token `id` adds to the text; an empty string
  // is a token that is never allowed (unless it is an end id).
  TokenFilter(std::vector<std::string> tokens, std::vector<int> end_ids);
  ~TokenFilter();
  // allowed.size() becomes vocab_size; allowed[id] = 1 when token `id` may come next.
  void allowed(const Matcher& m, std::vector<char>& allowed) const;
  // Whether one token may come next (cheaper than a full mask).
  bool accepts(const Matcher& m, int id) const;
  // The bytes token `id` adds to the text (what advance() should be given after sampling it);
  // empty for end ids, special tokens and ids outside the vocabulary.
  std::string_view token_bytes(int id) const;
  int vocab_size() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace exaone::grammar

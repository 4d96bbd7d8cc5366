#include "runtime/session.h"

#include <algorithm>

#include "util/error.h"

namespace exaone {

Session::Session(Model& model, const Tokenizer& tokenizer, int64_t max_context, DType kv_type)
    : model_(model), tok_(tokenizer), cache_(model.new_cache(max_context, kv_type)) {
  for (auto e : model.config().eos_ids)
    if (e >= 0) eos_ids_.push_back(static_cast<int>(e));
  if (auto e = tokenizer.eos_id(); e && std::find(eos_ids_.begin(), eos_ids_.end(), *e) == eos_ids_.end())
    eos_ids_.push_back(*e);
}

void Session::reset() {
  cache_->clear();
  tokens_.clear();
}

void Session::feed(std::span<const int32_t> toks, std::vector<float>& logits) {
  // Long prompts go in chunks so activation buffers stay bounded.
  constexpr size_t kChunk = 512;
  for (size_t i = 0; i < toks.size(); i += kChunk) {
    SequenceChunk c{toks.subspan(i, std::min(kChunk, toks.size() - i)), cache_.get(), false};
    model_.forward({&c, 1}, logits);
  }
}

void Session::prefill(const std::vector<int>& prompt, GenerateResult& r, std::vector<float>& logits) {
  size_t common = 0;
  while (common < prompt.size() && common < tokens_.size() && prompt[common] == tokens_[common]) ++common;
  if (common == prompt.size()) --common;  // the last prompt token must be fed to get its logits
  if (!cache_->truncate(static_cast<int64_t>(common))) {
    cache_->clear();
    common = 0;
  }
  tokens_.resize(common);
  r.reused_tokens = static_cast<int64_t>(common);
  std::vector<int32_t> rest(prompt.begin() + common, prompt.end());
  feed(rest, logits);
  tokens_.insert(tokens_.end(), rest.begin(), rest.end());
}

size_t stop_prefix_overlap(std::string_view text, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const auto& s : stops)
    for (size_t n = std::min(s.size() - 1, text.size()); n > best; --n)
      if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
        best = n;
        break;
      }
  return best;
}

GenerateResult Session::generate(const std::vector<int>& prompt, const GenerateOptions& options,
                                 const std::function<bool(std::string_view)>& on_text) {
  GenerateResult r;
  if (prompt.empty()) fail("generate: empty prompt");
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (r.prompt_tokens >= cache_->max_context())
    fail("prompt of " + std::to_string(prompt.size()) + " tokens does not fit the context length " +
         std::to_string(cache_->max_context()));
  const int64_t vocab_limit = std::min<int64_t>(model_.config().vocab_size, tok_.vocab_size());
  Sampler sampler(options.sampling, vocab_limit);
  std::vector<float> logits;
  prefill(prompt, r, logits);

  StreamingDecoder decoder(tok_, /*skip_special=*/true);
  std::string pending;  // decoded text not yet passed on (may be the start of a stop string)
  bool stopped_by_caller = false;
  auto emit = [&](std::string_view s) {
    if (s.empty()) return;
    r.text.append(s);
    if (on_text && !on_text(s)) stopped_by_caller = true;
  };
  // Returns true when a stop string was found (text before it emitted).
  auto push_text = [&](const std::string& piece) {
    pending += piece;
    for (const auto& s : options.stop) {
      if (s.empty()) continue;
      if (auto at = pending.find(s); at != std::string::npos) {
        emit(std::string_view(pending).substr(0, at));
        pending.clear();
        return true;
      }
    }
    const size_t hold = stop_prefix_overlap(pending, options.stop);
    emit(std::string_view(pending).substr(0, pending.size() - hold));
    pending.erase(0, pending.size() - hold);
    return false;
  };

  const int64_t V = model_.config().vocab_size;
  r.finish_reason = "length";
  while (static_cast<int64_t>(r.tokens.size()) < options.max_tokens) {
    if (cache_->n_past() >= cache_->max_context()) {  // prompt + output fill the context
      r.finish_reason = "context";
      break;
    }
    std::span<float> row(logits.data() + logits.size() - V, V);
    const int id = sampler.sample(row, tokens_, r.tokens);
    if (options.stop_at_eos && std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end()) {
      r.finish_reason = "stop";
      break;
    }
    r.tokens.push_back(id);
    if (push_text(decoder.push(id)) || stopped_by_caller) {
      r.finish_reason = "stop";
      break;
    }
    std::vector<int32_t> one{id};
    feed(one, logits);
    tokens_.push_back(id);
  }
  if (r.finish_reason != "stop" || !pending.empty()) {
    // Flush the decoder's incomplete character and any held-back stop-string prefix.
    if (!push_text(decoder.flush())) emit(pending);
  }
  return r;
}

}  // namespace exaone

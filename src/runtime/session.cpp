#include "runtime/session.h"

#include <algorithm>
#include <optional>

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
  mtp_.reset();
}

void Session::feed(std::span<const int32_t> toks, std::vector<float>& logits) {
  // Long prompts go in chunks so activation buffers stay bounded.
  constexpr size_t kChunk = 512;
  for (size_t i = 0; i < toks.size(); i += kChunk) {
    SequenceChunk c{toks.subspan(i, std::min(kChunk, toks.size() - i)), cache_.get(), false};
    model_.forward({&c, 1}, logits);
  }
}

size_t common_prefix(const std::vector<int>& a, const std::vector<int>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

size_t reuse_cached_prefix(KVCache& cache, std::vector<int>& cached, const std::vector<int>& prompt) {
  size_t common = common_prefix(prompt, cached);
  if (common == prompt.size() && common > 0) --common;  // the last prompt token must be fed to get its logits
  if (!cache.truncate(static_cast<int64_t>(common))) {
    const int64_t mark = cache.checkpoint_position();
    if (mark >= 0 && mark < static_cast<int64_t>(common) && cache.truncate(mark)) {
      common = static_cast<size_t>(mark);
    } else {
      cache.clear();
      common = 0;
    }
  }
  cached.resize(common);
  return common;
}

std::string StopStringFilter::push(std::string_view piece, bool& stopped) {
  held_ += piece;
  for (const auto& s : stops_) {
    if (s.empty()) continue;
    if (auto at = held_.find(s); at != std::string::npos) {
      std::string out = held_.substr(0, at);
      held_.clear();
      stopped = true;
      return out;
    }
  }
  const size_t hold = stop_prefix_overlap(held_, stops_);
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopStringFilter::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

void Session::prefill(const std::vector<int>& prompt, GenerateResult& r, std::vector<float>& logits) {
  const size_t common = reuse_cached_prefix(*cache_, tokens_, prompt);
  r.reused_tokens = static_cast<int64_t>(common);
  std::vector<int32_t> rest(prompt.begin() + common, prompt.end());
  feed(rest, logits);
  tokens_.insert(tokens_.end(), rest.begin(), rest.end());
  cache_->checkpoint();  // the next turn shares this prompt
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
  std::optional<SpeculativeDecoder> spec;
  if (options.spec.draft > 0) {
    spec.emplace(model_, *cache_, mtp_, tokens_, sampler, options.spec.draft);
    r.reused_tokens = static_cast<int64_t>(spec->prefill(prompt));
  } else {
    if (mtp_.cache) mtp_.in_sync = false;  // the main cache moves on without the MTP layer
    prefill(prompt, r, logits);
  }

  StreamingDecoder decoder(tok_, /*skip_special=*/true);
  StopStringFilter stops(options.stop);
  bool stopped_by_caller = false;
  auto emit = [&](std::string_view s) {
    if (s.empty()) return;
    r.text.append(s);
    if (on_text && !on_text(s)) stopped_by_caller = true;
  };
  bool stopped_by_string = false;
  // Returns true when a stop string was found (text before it emitted).
  auto push_text = [&](const std::string& piece) {
    emit(stops.push(piece, stopped_by_string));
    return stopped_by_string;
  };

  const int64_t V = model_.config().vocab_size;
  r.finish_reason = "length";
  while (static_cast<int64_t>(r.tokens.size()) < options.max_tokens) {
    if (static_cast<int64_t>(tokens_.size()) >= cache_->max_context()) {  // prompt + output fill the context
      r.finish_reason = "context";
      break;
    }
    int id;
    if (spec) {
      id = spec->next(options.max_tokens - static_cast<int64_t>(r.tokens.size()));
    } else {
      std::span<float> row(logits.data() + logits.size() - V, V);
      id = sampler.sample(row, tokens_, r.tokens);
    }
    if (options.stop_at_eos && std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end()) {
      r.finish_reason = "stop";
      break;
    }
    r.tokens.push_back(id);
    if (push_text(decoder.push(id)) || stopped_by_caller) {
      r.finish_reason = "stop";
      break;
    }
    if (spec) {
      spec->commit();
      continue;
    }
    std::vector<int32_t> one{id};
    feed(one, logits);
    tokens_.push_back(id);
  }
  if (spec) {
    spec->finish();
    r.spec = spec->stats();
  }
  if (!stopped_by_string) {
    // The decoder's incomplete character and any held-back start of a stop string.
    if (!push_text(decoder.flush())) emit(stops.flush());
  }
  return r;
}

}  // namespace exaone

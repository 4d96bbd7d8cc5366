#include "server/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/matmul.h"
#include "runtime/session.h"
#include "util/error.h"

namespace exaone::server {

// ---------------------------------------------------------------------------------------------
// RequestHandle

bool RequestHandle::wait(Progress& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return news_; })) return false;
  out.text += pending_.text;
  out.logprobs.insert(out.logprobs.end(), std::make_move_iterator(pending_.logprobs.begin()),
                      std::make_move_iterator(pending_.logprobs.end()));
  out.completion_tokens = pending_.completion_tokens;
  out.prompt_tokens = prompt_tokens_;
  out.cached_tokens = cached_tokens_;
  out.done = pending_.done;
  out.finish_reason = pending_.finish_reason;
  out.error = pending_.error;
  pending_.text.clear();
  pending_.logprobs.clear();
  news_ = false;
  return true;
}

void RequestHandle::cancel() { cancelled_.store(true); }

void RequestHandle::publish(const std::string& text, std::vector<TokenLogprob>&& lp, int64_t completion_tokens,
                            bool done, const std::string& finish_reason, const std::string& error) {
  {
    std::lock_guard lock(mu_);
    pending_.text += text;
    pending_.logprobs.insert(pending_.logprobs.end(), std::make_move_iterator(lp.begin()),
                             std::make_move_iterator(lp.end()));
    pending_.completion_tokens = completion_tokens;
    if (done) {
      pending_.done = true;
      pending_.finish_reason = finish_reason;
      pending_.error = error;
    }
    news_ = true;
  }
  cv_.notify_all();
}

// ---------------------------------------------------------------------------------------------
// Engine

struct Engine::Sequence {
  GenerationRequest req;
  std::shared_ptr<RequestHandle> handle;
  int slot = -1;
  std::vector<int> tokens;  // prompt, then each sampled token (fed at the next step)
  int64_t fed = 0;          // tokens whose K/V are in the slot's cache
  int64_t prompt_size = 0;
  std::vector<int> generated;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<StreamingDecoder> decoder;
  std::unique_ptr<StopStringFilter> stops;
  std::string recent;       // tail of the text, to find `grammar_after`
  std::optional<grammar::Matcher> matcher;  // set once the grammar applies
  bool stopped_by_string = false;
  Clock::time_point last_token;
};

Engine::Engine(Model& model, const Tokenizer& tokenizer, EngineOptions options, Metrics* metrics)
    : model_(model), tok_(tokenizer), opt_(options), metrics_(metrics) {
  if (opt_.parallel < 1) fail("--parallel must be at least 1");
  if (opt_.prefill_chunk < 1) fail("--prefill-chunk must be at least 1");
  context_ = opt_.context > 0 ? opt_.context : model.config().max_position;
  if (context_ < 2) fail("context length " + std::to_string(context_) + " is too small");
  vocab_limit_ = std::min<int64_t>(model.config().vocab_size, tokenizer.vocab_size());
  for (auto e : model.config().eos_ids)
    if (e >= 0) eos_ids_.push_back(static_cast<int>(e));
  if (auto e = tokenizer.eos_id(); e && std::find(eos_ids_.begin(), eos_ids_.end(), *e) == eos_ids_.end())
    eos_ids_.push_back(*e);
  filter_ = std::make_unique<grammar::TokenFilter>(tokenizer, eos_ids_);
  slots_.resize(static_cast<size_t>(opt_.parallel));
  decode_step_seconds_.assign(static_cast<size_t>(opt_.parallel) + 1, 0.0);
  for (Slot& s : slots_) s.cache = model.new_cache(context_, opt_.kv_type);  // memory grows on use
  set_batch_invariant(true);
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { shutdown(); }

void Engine::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<RequestHandle> Engine::submit(GenerationRequest request) {
  const int64_t n = static_cast<int64_t>(request.prompt.size());
  if (n == 0) fail("the prompt is empty");
  if (n >= context_)
    fail("the prompt has " + std::to_string(n) + " tokens but the context length is " + std::to_string(context_) +
         " (the prompt must be shorter, to leave room for the answer)");
  for (size_t i = 0; i < request.prompt.size(); ++i)
    if (request.prompt[i] < 0 || request.prompt[i] >= model_.config().vocab_size)
      fail("token id " + std::to_string(request.prompt[i]) + " at position " + std::to_string(i) +
           " is out of range (vocab_size " + std::to_string(model_.config().vocab_size) + ")");
  for (const auto& [id, bias] : request.logit_bias)
    if (id < 0 || id >= vocab_limit_)
      fail("logit_bias: token id " + std::to_string(id) + " is out of range (vocabulary of " +
           std::to_string(vocab_limit_) + " tokens)");
  auto seq = std::make_unique<Sequence>();
  seq->sampler = std::make_unique<Sampler>(request.sampling, vocab_limit_);  // validates the parameters
  seq->decoder = std::make_unique<StreamingDecoder>(tok_, /*skip_special=*/true);
  seq->handle = std::make_shared<RequestHandle>();
  seq->tokens = request.prompt;
  seq->prompt_size = n;
  if (request.grammar && request.grammar_after.empty()) seq->matcher.emplace(request.grammar);
  seq->req = std::move(request);
  seq->stops = std::make_unique<StopStringFilter>(seq->req.stop);  // refers to the request's list, moved in above
  auto handle = seq->handle;
  {
    std::lock_guard lock(mu_);
    if (stopping_) fail("the server is shutting down");
    if (waiting_.size() >= opt_.max_queue) throw QueueFull();
    waiting_.push_back(std::move(seq));
  }
  cv_.notify_all();
  return handle;
}

Engine::Stats Engine::stats() const {
  Stats s;
  {
    std::lock_guard lock(mu_);
    s.queued = waiting_.size();
  }
  s.running = running_count_.load();
  s.kv_bytes = kv_bytes_.load();
  s.parallel = opt_.parallel;
  return s;
}

void Engine::loop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running_.empty(); });
      if (stopping_) break;
    }
    admit();
    // Cancelled requests leave at once and give their KV back; expired ones end as "length".
    for (auto& s : running_) {
      if (s->handle->cancelled()) finish(*s, "cancelled");
      else if (Clock::now() >= s->req.deadline) finish(*s, "length");
    }
    std::erase_if(running_, [](const auto& s) { return s->slot < 0; });
    running_count_.store(running_.size());
    if (!running_.empty()) step();
    size_t kv = 0;
    for (const Slot& sl : slots_) kv += sl.cache->bytes_allocated();
    kv_bytes_.store(kv);
  }
  // Shutting down: every request still here ends with an error.
  std::deque<std::unique_ptr<Sequence>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(waiting_);
  }
  for (auto& s : running_) finish(*s, "error", "the server is shutting down");
  for (auto& s : left) s->handle->publish("", {}, 0, true, "error", "the server is shutting down");
  running_.clear();
  running_count_.store(0);
}

void Engine::admit() {
  std::lock_guard lock(mu_);
  // Requests cancelled or expired while queued leave the queue first.
  for (auto& s : waiting_) {
    if (s->handle->cancelled()) {
      s->handle->publish("", {}, 0, true, "cancelled", "");
      s.reset();
    } else if (Clock::now() >= s->req.deadline) {
      s->handle->publish("", {}, 0, true, "timeout", "the request timed out waiting in the queue (--request-timeout)");
      s.reset();
    }
  }
  std::erase_if(waiting_, [](const auto& s) { return !s; });
  size_t next = 0;
  while (next < waiting_.size()) {
    // The free slot whose cached tokens share the longest prefix with the prompt; ties: the
    // least recently used (its prefix is the least likely to be wanted again).
    int best = -1;
    size_t best_common = 0;
    const std::vector<int>& prompt = waiting_[next]->tokens;
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot& sl = slots_[i];
      if (sl.busy) continue;
      const size_t c = common_prefix(prompt, sl.tokens);
      if (best < 0 || c > best_common || (c == best_common && sl.last_used < slots_[best].last_used)) {
        best = static_cast<int>(i);
        best_common = c;
      }
    }
    if (best < 0) break;  // every slot is busy
    if (waits_for_shared_prefix(prompt, best_common)) {
      ++next;  // later requests may go first; this one goes once the shared part is computed
      continue;
    }
    auto seq = std::move(waiting_[next]);
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(next));
    size_t common = 0;
    if (const auto copied = copy_from_other_slot(seq->tokens, best_common)) {
      best = copied->first;
      common = copied->second;
    } else {
      common = reuse_cached_prefix(*slots_[best].cache, slots_[best].tokens, seq->tokens);
    }
    Slot& sl = slots_[best];
    sl.busy = true;
    sl.last_used = ++clock_;
    seq->slot = best;
    seq->fed = static_cast<int64_t>(common);
    {
      std::lock_guard hl(seq->handle->mu_);
      seq->handle->prompt_tokens_ = seq->prompt_size;
      seq->handle->cached_tokens_ = static_cast<int64_t>(common);
    }
    if (metrics_) metrics_->prefix_cache_hit_tokens += common;
    running_.push_back(std::move(seq));
  }
}

// Whether a running request is still reading a prompt that shares a long prefix with this one
// (a burst of users behind one system prompt): then this one waits until that part is computed
// and copies it (copy_from_other_slot), instead of every request computing the same prefix.
namespace {
// A prefix copy from another slot pays from this many positions beyond the free slot's own:
// below it, recomputing costs about what the copy does.
constexpr size_t kMinCopyGain = 16;
}  // namespace

bool Engine::waits_for_shared_prefix(const std::vector<int>& prompt, size_t own) const {
  constexpr size_t kMinShared = 32;
  for (const auto& r : running_) {
    const size_t c = std::min(common_prefix(prompt, r->tokens), prompt.size() - 1);
    if (c >= kMinShared && c >= own + kMinCopyGain && r->fed < static_cast<int64_t>(c)) return true;
  }
  return false;
}

// Another slot, running or free, may hold a longer prefix of the prompt than any free slot's own
// (a system prompt shared by many users): its rows are copied into the least recently used free
// slot, a memcpy instead of a prefill. Returns that slot and the positions copied.
std::optional<std::pair<int, size_t>> Engine::copy_from_other_slot(const std::vector<int>& prompt, size_t own) {
  int donor = -1, target = -1;
  size_t donor_common = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& sl = slots_[i];
    if (!sl.busy && (target < 0 || sl.last_used < slots_[target].last_used)) target = static_cast<int>(i);
    const size_t c = common_prefix(prompt, sl.tokens);
    if (c > donor_common) {
      donor = static_cast<int>(i);
      donor_common = c;
    }
  }
  const size_t want = std::min(donor_common, prompt.size() - 1);  // the last prompt token is fed for its logits
  if (donor < 0 || target < 0 || donor == target || want < own + kMinCopyGain) return std::nullopt;
  Slot& t = slots_[target];
  if (!t.cache->copy_prefix_from(*slots_[donor].cache, static_cast<int64_t>(want))) return std::nullopt;
  t.tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(want));
  return std::make_pair(target, want);
}

void Engine::step() {
  // Decode tokens (one per sequence past its prompt) always go; prompt chunks share a budget that
  // keeps a step with them within about 1.6 decode-only steps, so streams keep their pace while a
  // long prompt is read (the margin under 2x absorbs the step-to-step noise that p99 sees). With no
  // stream running, prompts go in full chunks.
  // When more requests wait for their first token than streams are running (a burst of arrivals),
  // the budget grows by that ratio: every user's wait counts the same, and a lone stream does not
  // hold back many prompts.
  int64_t n_decode = 0, n_reading = 0;
  for (const auto& s : running_) (s->fed >= s->prompt_size ? n_decode : n_reading)++;
  int64_t budget = opt_.prefill_chunk;
  if (n_decode > 0) {
    budget = 16;
    const double decode_step = decode_step_seconds_[n_decode];
    constexpr double kPromptShareOfDecodeStep = 0.6;
    if (decode_step > 0 && prefill_token_seconds_ > 0)
      budget = static_cast<int64_t>(kPromptShareOfDecodeStep * decode_step / prefill_token_seconds_);
    budget *= std::max<int64_t>(1, n_reading / n_decode);
    budget = std::clamp<int64_t>(budget, 1, opt_.prefill_chunk);
  }
  std::vector<SequenceChunk> chunks;
  std::vector<Sequence*> owners;
  int64_t n_prefill = 0;
  for (auto& s : running_) {
    const int64_t remaining = static_cast<int64_t>(s->tokens.size()) - s->fed;
    int64_t take = remaining;
    if (s->fed < s->prompt_size) {  // still reading the prompt
      take = std::min(remaining, budget - n_prefill);
      if (take <= 0) continue;
      n_prefill += take;
    }
    chunks.push_back({std::span<const int32_t>(s->tokens.data() + s->fed, static_cast<size_t>(take)),
                      slots_[s->slot].cache.get(), false});
    owners.push_back(s.get());
  }
  if (chunks.empty()) return;
  std::vector<float> logits;
  const auto t0 = Clock::now();
  try {
    model_.forward(chunks, logits);
  } catch (const std::exception& e) {
    for (Sequence* s : owners) {
      slots_[s->slot].cache->clear();
      slots_[s->slot].tokens.clear();
      finish(*s, "error", std::string("generation failed: ") + e.what());
    }
    std::erase_if(running_, [](const auto& s) { return s->slot < 0; });
    return;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  constexpr double kAlpha = 0.2;
  auto average = [&](double& avg, double v) { avg = avg == 0 ? v : (1 - kAlpha) * avg + kAlpha * v; };
  // A decode step's cost depends on how many streams it carries: one average per stream count, so a
  // mixed step's excess over the decode-only cost of as many streams is what its prompt tokens cost.
  double& decode_step = decode_step_seconds_[n_decode];
  if (n_prefill == 0) average(decode_step, seconds);
  else if (n_decode == 0) average(prefill_token_seconds_, seconds / n_prefill);
  else if (decode_step > 0) average(prefill_token_seconds_, std::max(0.0, seconds - decode_step) / n_prefill);

  const int64_t V = model_.config().vocab_size;
  for (size_t i = 0; i < chunks.size(); ++i) {
    Sequence& s = *owners[i];
    Slot& sl = slots_[s.slot];
    sl.tokens.insert(sl.tokens.end(), chunks[i].tokens.begin(), chunks[i].tokens.end());
    s.fed += static_cast<int64_t>(chunks[i].tokens.size());
    if (s.fed < static_cast<int64_t>(s.tokens.size())) continue;  // more of the prompt to read
    if (s.fed == s.prompt_size) sl.cache->checkpoint();  // a later request may share this prompt
    sample_next(s, std::span<float>(logits.data() + i * V, static_cast<size_t>(V)));
  }
  std::erase_if(running_, [](const auto& s) { return s->slot < 0; });
  running_count_.store(running_.size());
}

void Engine::emit_text(Sequence& s, const std::string& piece, bool& stop_found) {
  const std::string out = s.stops->push(piece, stop_found);
  if (!out.empty()) s.handle->publish(out, {}, static_cast<int64_t>(s.generated.size()), false, "", "");
}

void Engine::sample_next(Sequence& s, std::span<float> logits) {
  const auto now = Clock::now();
  for (const auto& [id, bias] : s.req.logit_bias) logits[id] += bias;
  const int64_t V = std::min<int64_t>(vocab_limit_, static_cast<int64_t>(logits.size()));

  TokenLogprob lp;
  double log_z = 0;
  if (s.req.logprobs >= 0) {  // log-softmax of the model's (biased) distribution, before sampling settings
    const float mx = *std::max_element(logits.begin(), logits.begin() + V);
    double z = 0;
    for (int64_t i = 0; i < V; ++i) z += std::exp(static_cast<double>(logits[i] - mx));
    log_z = mx + std::log(z);
    if (s.req.logprobs > 0) {
      std::vector<int> idx(static_cast<size_t>(V));
      for (int64_t i = 0; i < V; ++i) idx[i] = static_cast<int>(i);
      const int k = std::min<int>(s.req.logprobs, static_cast<int>(V));
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                        [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
      for (int j = 0; j < k; ++j) lp.top.emplace_back(idx[j], static_cast<float>(logits[idx[j]] - log_z));
    }
  }

  std::vector<float> work(logits.begin(), logits.end());
  int id = s.sampler->sample(work, s.tokens, s.generated);
  if (s.matcher && !filter_->accepts(*s.matcher, id)) {
    // The draw breaks the grammar: mask what cannot follow and draw again.
    std::vector<char> allowed;
    filter_->allowed(*s.matcher, allowed);
    bool any = false;
    work.assign(logits.begin(), logits.end());
    for (int64_t i = 0; i < static_cast<int64_t>(work.size()); ++i) {
      if (i < static_cast<int64_t>(allowed.size()) && allowed[i] && i < V) any = true;
      else work[i] = -std::numeric_limits<float>::infinity();
    }
    if (!any) return finish(s, "stop");  // nothing may follow (the grammar is complete)
    id = s.sampler->sample(work, s.tokens, s.generated);
    if (id < 0 || id >= static_cast<int>(allowed.size()) || !allowed[id]) return finish(s, "stop");
  }
  if (s.req.logprobs >= 0) {
    lp.id = id;
    lp.logprob = static_cast<float>(logits[id] - log_z);
  }

  if (metrics_) {
    if (s.generated.empty())
      metrics_->time_to_first_token.observe(std::chrono::duration<double>(now - s.req.arrival).count());
    else
      metrics_->inter_token_latency.observe(std::chrono::duration<double>(now - s.last_token).count());
  }
  s.last_token = now;
  const bool is_eos = std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end();
  if (is_eos && !s.req.ignore_eos) return finish(s, "stop");
  s.generated.push_back(id);
  s.tokens.push_back(id);
  if (metrics_) metrics_->generated_tokens++;
  if (s.req.logprobs >= 0) s.handle->publish("", {lp}, static_cast<int64_t>(s.generated.size()), false, "", "");

  if (s.matcher) s.matcher->advance(filter_->token_bytes(id));
  const std::string piece = s.decoder->push(id);
  if (s.req.grammar && !s.matcher) {
    // The grammar starts once `grammar_after` (the reasoning close tag) has been written.
    s.recent += piece;
    if (s.recent.find(s.req.grammar_after) != std::string::npos) s.matcher.emplace(s.req.grammar);
    else if (s.recent.size() > 4 * s.req.grammar_after.size()) s.recent.erase(0, s.recent.size() - s.req.grammar_after.size());
  }
  bool stop_found = false;
  emit_text(s, piece, stop_found);
  if (stop_found) {
    s.stopped_by_string = true;
    return finish(s, "stop");
  }
  if (s.matcher && s.matcher->must_end()) return finish(s, "stop");
  if (static_cast<int64_t>(s.generated.size()) >= s.req.max_tokens) return finish(s, "length");
  if (s.fed + 1 > context_) return finish(s, "length");  // no room to feed the sampled token
}

void Engine::finish(Sequence& s, const std::string& reason, const std::string& error) {
  if (s.slot < 0) return;
  Slot& sl = slots_[s.slot];
  if (reason == "cancelled") {
    sl.cache->release();  // nobody waits for this one: its memory goes back at once
    sl.tokens.clear();
  }
  sl.busy = false;
  sl.last_used = ++clock_;
  s.slot = -1;
  std::string tail;
  if (reason != "cancelled" && reason != "error" && !s.stopped_by_string) {
    // The decoder's unfinished character and any held-back start of a stop string.
    bool stopped = false;
    tail = s.stops->push(s.decoder->flush(), stopped);
    if (!stopped) tail += s.stops->flush();
  }
  if (metrics_) {
    metrics_->prompt_tokens += static_cast<uint64_t>(s.prompt_size);
    metrics_->request_duration.observe(std::chrono::duration<double>(Clock::now() - s.req.arrival).count());
  }
  s.handle->publish(tail, {}, static_cast<int64_t>(s.generated.size()), true, reason, error);
}

}  // namespace exaone::server

// The serving engine: one thread that runs every active request through one batched
// Model::forward per step (continuous batching: requests join and leave the batch at any step),
// feeds long prompts in chunks sized so running streams keep their pace, and reuses the KV of
// prompt prefixes across requests (prefix cache).
//
// Slots: `parallel` KV caches. A request runs in a free slot; the slot keeps its tokens' KV when
// the request ends, and a later request whose prompt shares a prefix with them (a multi-turn
// chat, a common system prompt) takes that slot and skips the shared part. Sliding-window layers
// stay correct: KVCache::truncate refuses when a ring buffer has already overwritten positions
// the new suffix would need, and the slot then starts over.
//
// Greedy output does not depend on the batch: the kernels run in batch-invariant mode
// (matmul.h), attention tiles are aligned to absolute positions and K/V are rounded through the
// cache type before use, so a request's logits are bit-identical alone or among others.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "grammar/grammar.h"
#include "models/model.h"
#include "runtime/sampler.h"
#include "server/metrics.h"
#include "tokenizer/tokenizer.h"

namespace exaone::server {

using Clock = std::chrono::steady_clock;

struct TokenLogprob {
  int id = 0;
  float logprob = 0;
  std::vector<std::pair<int, float>> top;  // most likely tokens at this step, best first
};

struct GenerationRequest {
  std::vector<int> prompt;
  SamplingParams sampling;
  int64_t max_tokens = 512;
  std::vector<std::string> stop;                  // stop strings (not part of the output)
  bool ignore_eos = false;
  std::vector<std::pair<int, float>> logit_bias;  // added to the logits before sampling
  int logprobs = -1;                              // -1: none; else alternatives per token (0..20)
  grammar::NodePtr grammar;                       // null: unconstrained
  // The grammar applies once this text has been generated (the reasoning close tag when the
  // prompt opened a reasoning block); empty: from the first token.
  std::string grammar_after;
  Clock::time_point arrival = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();
};

// What a request has produced since the consumer last looked (events are merged).
struct Progress {
  std::string text;                   // whole UTF-8 characters; stop strings removed
  std::vector<TokenLogprob> logprobs; // tokens since last time (when logprobs were asked)
  int64_t completion_tokens = 0;      // totals so far
  int64_t prompt_tokens = 0, cached_tokens = 0;
  bool done = false;
  std::string finish_reason;          // when done: "stop", "length"; "error" or "timeout" with `error`
  std::string error;
};

class Engine;

// A submitted request: the consumer (an HTTP handler thread) waits for progress and may cancel.
class RequestHandle {
 public:
  // Waits up to `timeout` for news; moves everything new into `out` (text appended). Returns
  // false on time-out with nothing new.
  bool wait(Progress& out, std::chrono::milliseconds timeout);
  // Stops the request; its slot's KV is freed at the engine's next step.
  void cancel();
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class Engine;
  void publish(const std::string& text, std::vector<TokenLogprob>&& lp, int64_t completion_tokens, bool done,
               const std::string& finish_reason, const std::string& error);
  std::mutex mu_;
  std::condition_variable cv_;
  Progress pending_;
  bool news_ = false;
  std::atomic<bool> cancelled_{false};
  int64_t prompt_tokens_ = 0, cached_tokens_ = 0;
};

struct EngineOptions {
  int parallel = 8;              // sequences decoded together (KV slots)
  int64_t context = 0;           // per sequence; 0: the model's max_position
  DType kv_type = DType::F32;
  size_t max_queue = 256;        // requests waiting for a slot
  int64_t prefill_chunk = 512;   // most prompt tokens per step
};

class QueueFull : public std::runtime_error {
 public:
  QueueFull() : std::runtime_error("the request queue is full") {}
};

class Engine {
 public:
  Engine(Model& model, const Tokenizer& tokenizer, EngineOptions options, Metrics* metrics = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Throws QueueFull when max_queue requests wait, Error for a request that
  // cannot run (empty prompt, prompt not shorter than the context, token id out of range).
  std::shared_ptr<RequestHandle> submit(GenerationRequest request);
  // Ends every queued and running request with an error and stops the engine thread.
  void shutdown();

  int64_t context() const { return context_; }
  const std::vector<int>& eos_ids() const { return eos_ids_; }
  const grammar::TokenFilter& token_filter() const { return *filter_; }

  struct Stats {
    size_t queued = 0;
    size_t running = 0;
    size_t kv_bytes = 0;
    int parallel = 0;
  };
  Stats stats() const;

 private:
  struct Sequence;
  struct Slot {
    std::unique_ptr<KVCache> cache;
    std::vector<int> tokens;  // what the cache holds
    bool busy = false;
    uint64_t last_used = 0;
  };

  void loop();
  void admit();
  bool waits_for_shared_prefix(const std::vector<int>& prompt, size_t own) const;
  std::optional<std::pair<int, size_t>> copy_from_other_slot(const std::vector<int>& prompt, size_t own);
  void step();
  void sample_next(Sequence& s, std::span<float> logits);
  void finish(Sequence& s, const std::string& reason, const std::string& error = "");
  void emit_text(Sequence& s, const std::string& piece, bool& stop_found);

  Model& model_;
  const Tokenizer& tok_;
  EngineOptions opt_;
  Metrics* metrics_;
  int64_t context_;
  int64_t vocab_limit_;
  std::vector<int> eos_ids_;
  std::unique_ptr<grammar::TokenFilter> filter_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  bool stopping_ = false;
  std::thread thread_;

  // Engine-thread state.
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<Sequence>> running_;
  uint64_t clock_ = 0;
  std::vector<double> decode_step_seconds_;  // moving average of decode-only steps, by stream count
  double prefill_token_seconds_ = 0; // moving average cost of one prompt token in a mixed step
  std::atomic<size_t> running_count_{0}, kv_bytes_{0};
};

}  // namespace exaone::server

// Perplexity of a model on a token stream, computed the way llama.cpp's `llama-perplexity`
// does so figures are comparable: the stream is cut into chunks of `ctx` tokens (the tail that
// does not fill a chunk is dropped); each chunk runs from a fresh KV cache; only the second
// half is scored: the logits at positions ctx/2 .. ctx-2 predict tokens ctx/2+1 .. ctx-1,
// so early tokens with little context do not count. NLLs use a log-softmax in double.
//   PPL = exp(mean NLL), error = PPL * sqrt((mean(NLL^2) - mean(NLL)^2) / (count - 1)).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "models/model.h"

namespace exaone {

struct PerplexityOptions {
  int64_t ctx = 512;     // tokens per chunk; at least 3 (so one token is scored)
  // Tokens per forward call (llama.cpp's n_batch). Below ctx a chunk is fed in pieces that
  // continue its cache; at or above ctx, batch/ctx chunks go through one call as separate
  // sequences. 0 = ctx.
  int64_t batch = 0;
  int bos_id = -1;         // >= 0: the first token of every chunk is replaced by it (llama.cpp add_bos)
  int64_t max_chunks = 0;  // 0 = every whole chunk
};

struct PerplexityResult {
  double ppl = 0;
  double ppl_error = 0;  // NaN when only one token was scored
  double mean_nll = 0;
  int64_t chunks = 0;
  int64_t scored_tokens = 0;
  std::vector<double> running_ppl;  // estimate after each chunk (llama.cpp's [1]x,[2]y,... line)
};

// Called after each chunk with its index (0-based), the chunk count and the running PPL.
using PerplexityProgress = std::function<void(int64_t chunk, int64_t n_chunks, double ppl)>;

// Errors (exaone::Error): ctx < 3 or above the model's context length, batch < 0, fewer than
// 2 * ctx tokens (llama.cpp's rule), a token id outside the vocabulary (named by position).
PerplexityResult compute_perplexity(Model& model, std::span<const int> tokens, const PerplexityOptions& options,
                                    const PerplexityProgress& progress = {});

// -log softmax(logits)[target], accumulated in double.
double token_nll(const float* logits, int64_t vocab, int target);

}  // namespace exaone

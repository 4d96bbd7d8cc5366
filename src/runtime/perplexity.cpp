#include "runtime/perplexity.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "util/error.h"

namespace exaone {

double token_nll(const float* logits, int64_t vocab, int target) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t v = 0; v < vocab; ++v) max = std::max(max, static_cast<double>(logits[v]));
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - max);
  return max + std::log(sum) - static_cast<double>(logits[target]);
}

PerplexityResult compute_perplexity(Model& model, std::span<const int> tokens, const PerplexityOptions& o,
                                    const PerplexityProgress& progress) {
  const ModelConfig& c = model.config();
  const int64_t ctx = o.ctx;
  if (ctx < 3)
    fail("perplexity: --ctx must be at least 3 (tokens ctx/2+1..ctx-1 of each chunk are scored), got " +
         std::to_string(ctx));
  if (ctx > c.max_position)
    fail("perplexity: --ctx " + std::to_string(ctx) + " exceeds the model's context length " +
         std::to_string(c.max_position));
  if (o.batch < 0) fail("perplexity: --batch must be positive, got " + std::to_string(o.batch));
  if (o.bos_id >= c.vocab_size)
    fail("perplexity: BOS id " + std::to_string(o.bos_id) + " is outside the vocabulary (" +
         std::to_string(c.vocab_size) + ")");
  const int64_t n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * ctx)
    fail("perplexity: the text has " + std::to_string(n_tokens) + " tokens; at least 2 * ctx = " +
         std::to_string(2 * ctx) + " are needed (use a smaller --ctx or a longer text)");
  for (int64_t i = 0; i < n_tokens; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      fail("perplexity: token id " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
           " is outside the vocabulary (" + std::to_string(c.vocab_size) + ")");

  int64_t n_chunks = n_tokens / ctx;
  if (o.max_chunks > 0) n_chunks = std::min(n_chunks, o.max_chunks);
  const int64_t batch = o.batch > 0 ? o.batch : ctx;
  const int64_t seqs_per_call = std::max<int64_t>(1, batch / ctx);  // whole chunks per call
  const int64_t piece = std::min(batch, ctx);                        // tokens per sequence per call
  const int64_t first = ctx / 2;
  const int64_t vocab = c.vocab_size;

  PerplexityResult r;
  double nll_sum = 0, nll2_sum = 0;
  std::vector<float> logits;
  for (int64_t chunk0 = 0; chunk0 < n_chunks; chunk0 += seqs_per_call) {
    const int64_t n_seq = std::min(seqs_per_call, n_chunks - chunk0);
    std::vector<std::vector<int32_t>> seq_tokens(n_seq);
    std::vector<std::unique_ptr<KVCache>> caches(n_seq);
    for (int64_t s = 0; s < n_seq; ++s) {
      const int64_t start = (chunk0 + s) * ctx;
      seq_tokens[s].assign(tokens.begin() + start, tokens.begin() + start + ctx);
      if (o.bos_id >= 0) seq_tokens[s][0] = o.bos_id;
      caches[s] = model.new_cache(ctx);
    }
    for (int64_t pos = 0; pos < ctx; pos += piece) {
      const int64_t len = std::min(piece, ctx - pos);
      // A piece that ends before `first` holds no scored row: only its last row is computed.
      const bool scored = pos + len > first;
      std::vector<SequenceChunk> batch_chunks;
      for (int64_t s = 0; s < n_seq; ++s)
        batch_chunks.push_back({std::span<const int32_t>(seq_tokens[s]).subspan(pos, len), caches[s].get(), scored});
      model.forward(batch_chunks, logits);
      if (!scored) continue;
      for (int64_t s = 0; s < n_seq; ++s) {
        const float* rows = logits.data() + s * len * vocab;
        // Row p (absolute position pos + p) predicts the token at pos + p + 1.
        for (int64_t p = std::max<int64_t>(0, first - pos); p < len && pos + p < ctx - 1; ++p) {
          const double nll = token_nll(rows + p * vocab, vocab, seq_tokens[s][pos + p + 1]);
          nll_sum += nll;
          nll2_sum += nll * nll;
          ++r.scored_tokens;
        }
        if (pos + len == ctx) {  // the chunk's last piece: it is done
          ++r.chunks;
          r.running_ppl.push_back(std::exp(nll_sum / static_cast<double>(r.scored_tokens)));
          if (progress) progress(chunk0 + s, n_chunks, r.running_ppl.back());
        }
      }
    }
  }

  const double count = static_cast<double>(r.scored_tokens);
  r.mean_nll = nll_sum / count;
  r.ppl = std::exp(r.mean_nll);
  const double var = nll2_sum / count - r.mean_nll * r.mean_nll;
  r.ppl_error = r.scored_tokens > 1 ? r.ppl * std::sqrt(std::max(0.0, var) / (count - 1))
                                    : std::numeric_limits<double>::quiet_NaN();
  return r;
}

}  // namespace exaone

// MTP self-speculative decoding on the tiny K-EXAONE fixtures (random weights: drafts are often
// rejected, which is what exercises the rollback). Greedy output equals decoding without
// speculation for many prompts and N = 1..4 (sliding windows of 3 and 4, so every verify writes
// across the rings and rejected rows are cut back); follow-up turns reuse the caches; the MTP
// state after a run equals one rebuilt from scratch; speculative sampling follows the target
// distribution (chi-square tests on a toy distribution and on the model's second token).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/matmul.h"
#include "runtime/session.h"
#include "runtime/speculative.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone {
namespace {

const std::string kModels = std::string(EXAONE_FIXTURES) + "/models/";
// K-EXAONE (pre-norm MTP layer) and EXAONE 4.5 (post-norm, sliding MTP layer).
const char* const kFixtures[] = {"kexaone-moe-experts", "kexaone-moe-fused", "exaone45-text"};

// The verify forward must give each row what a one-token step gives it: batch-invariant kernels,
// for the tests that compare with plain decoding (restored after each, so the binary's other
// tests keep the default kernels).
struct InvariantKernels {
  bool was = batch_invariant();
  InvariantKernels() { set_batch_invariant(true); }
  ~InvariantKernels() { set_batch_invariant(was); }
};

// Any tokenizer covering the fixtures' 320 ids: Session streams text through one.
const Tokenizer& tokenizer() {
  static const Tokenizer tok = Tokenizer::from_model_path(path_join(project_home(), "models/exaone4-tiny"));
  return tok;
}

std::vector<int> random_ids(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> ids(n);
  for (auto& id : ids) id = static_cast<int>(rng() % static_cast<uint32_t>(vocab));
  return ids;
}

// A toy model whose drafts are mostly right, so that full acceptance, the bonus token and partial
// acceptance all occur (the random fixtures' drafts almost never match). Target: the token after
// `a` at position p is f(a, p); the MTP layer predicts it one position further, wrong when
// (token + position) % 4 == 0. Caches only count positions.
class ToyModel : public Model {
 public:
  explicit ToyModel(int64_t vocab) {
    cfg_.hidden = 2;
    cfg_.n_layers = 1;
    cfg_.n_heads = cfg_.n_kv_heads = 1;
    cfg_.head_dim = 2;
    cfg_.intermediate = 2;
    cfg_.vocab_size = vocab;
    cfg_.max_position = 4096;
    cfg_.layer_sliding = {false};
    cfg_.layer_rope = {true};
  }
  int f(int a, int64_t p) const { return static_cast<int>((a * 31 + p * 17 + 7) % cfg_.vocab_size); }
  void forward(std::span<const SequenceChunk> batch, std::vector<float>& logits) override {
    std::vector<float> h;
    forward_hidden(batch, logits, h);
  }
  void forward_hidden(std::span<const SequenceChunk> batch, std::vector<float>& logits,
                      std::vector<float>& hidden) override {
    const int64_t V = cfg_.vocab_size;
    logits.clear();
    hidden.clear();
    for (const auto& c : batch) {
      const int64_t T = static_cast<int64_t>(c.tokens.size());
      if (c.cache->n_past() + T > c.cache->max_context()) fail("context length reached");
      for (int64_t i = 0; i < T; ++i) {
        const int64_t pos = c.cache->n_past() + i;
        hidden.push_back(static_cast<float>(c.tokens[i]));
        hidden.push_back(static_cast<float>(pos));
        if (!c.all_logits && i != T - 1) continue;
        logits.resize(logits.size() + V, 0.0f);
        logits[logits.size() - V + f(c.tokens[i], pos)] = 1.0f;
      }
      c.cache->advance(T);
    }
  }
  bool has_mtp() const override { return true; }
  std::unique_ptr<KVCache> new_mtp_cache(int64_t max_context, DType kv_type) const override {
    return std::make_unique<KVCache>(cfg_, max_context > 0 ? max_context : cfg_.max_position, kv_type);
  }
  void mtp_forward(std::span<const MtpChunk> batch, std::vector<float>& logits, std::vector<float>& hidden) override {
    const int64_t V = cfg_.vocab_size;
    logits.clear();
    hidden.clear();
    for (const auto& c : batch) {
      const int64_t T = static_cast<int64_t>(c.tokens.size());
      for (int64_t i = T - c.logit_rows; i < T; ++i) {
        const int64_t pos = c.cache->n_past() + i;
        int pred = f(c.tokens[i], pos + 1);
        if ((c.tokens[i] + pos) % 4 == 0) pred = (pred + 1) % static_cast<int>(V);
        logits.resize(logits.size() + V, 0.0f);
        logits[logits.size() - V + pred] = 1.0f;
        hidden.push_back(0);
        hidden.push_back(0);
      }
      c.cache->advance(T);
    }
  }
  int64_t parameter_count() const override { return 0; }
};

TEST(Speculative, MostlyRightDraftsAreAcceptedAndOutputUnchanged) {
  ToyModel model(300);
  for (int n = 1; n <= 6; ++n) {
    GenerateOptions o;
    o.max_tokens = 200;
    o.stop_at_eos = false;
    Session plain(model, tokenizer());
    const auto want = plain.generate({5, 9, 2}, o).tokens;
    o.spec.draft = n;
    Session s(model, tokenizer());
    const GenerateResult r = s.generate({5, 9, 2}, o);
    EXPECT_EQ(r.tokens, want) << "draft " << n;
    // About 3 in 4 drafts are right; a step stops at the first wrong one.
    EXPECT_GT(r.spec.acceptance_rate(), n == 1 ? 0.5 : 0.3) << "draft " << n;
    EXPECT_LT(r.spec.steps, 200 / (n == 1 ? 1.5 : 2.0)) << "draft " << n;
    // A follow-up turn continues correctly from the rolled-back caches.
    std::vector<int> next = {5, 9, 2};
    next.insert(next.end(), r.tokens.begin(), r.tokens.end());
    next.push_back(7);
    GenerateOptions po = o;
    po.spec.draft = 0;
    Session fresh(model, tokenizer());
    EXPECT_EQ(s.generate(next, o).tokens, fresh.generate(next, po).tokens) << "draft " << n;
  }
}

TEST(Speculative, GreedyEqualsPlainDecoding) {
  InvariantKernels invariant;
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    auto model = load_model(kModels + name);
    const int vocab = static_cast<int>(model->config().vocab_size);
    SpecStats total;
    for (uint32_t k = 0; k < 10; ++k) {
      const auto prompt = random_ids(1 + static_cast<int>(k * 7 % 40), vocab, 100 + k);
      GenerateOptions o;
      o.max_tokens = 40;
      o.stop_at_eos = false;
      if (k % 3 == 2) o.sampling.repetition_penalty = 1.3f;  // penalties see the accepted drafts
      Session plain(*model, tokenizer());
      const GenerateResult want = plain.generate(prompt, o);
      ASSERT_EQ(want.tokens.size(), 40u);
      for (int n = 1; n <= 4; ++n) {
        o.spec.draft = n;
        Session s(*model, tokenizer());
        const GenerateResult got = s.generate(prompt, o);
        EXPECT_EQ(got.tokens, want.tokens) << "prompt " << k << ", draft " << n;
        EXPECT_EQ(got.text, want.text);
        EXPECT_EQ(got.finish_reason, "length");
        EXPECT_GT(got.spec.steps, 0);
        total.drafted += got.spec.drafted;
        total.accepted += got.spec.accepted;
      }
    }
    EXPECT_GT(total.drafted, 0);
    std::printf("%s: %lld of %lld drafts accepted\n", name, static_cast<long long>(total.accepted),
                static_cast<long long>(total.drafted));
  }
}

// Stop conditions in the middle of an accepted run: eos, stop string, token limit, context limit.
TEST(Speculative, StopsLikePlainDecoding) {
  InvariantKernels invariant;
  auto model = load_model(kModels + "kexaone-moe-fused");
  const int vocab = static_cast<int>(model->config().vocab_size);
  const auto prompt = random_ids(9, vocab, 7);
  GenerateOptions o;
  o.max_tokens = 30;
  o.stop_at_eos = false;
  Session plain(*model, tokenizer());
  const GenerateResult full = plain.generate(prompt, o);
  for (int n : {1, 3}) {
    o.spec.draft = n;
    for (int limit : {1, 2, 5, 17}) {  // token limit
      GenerateOptions l = o;
      l.max_tokens = limit;
      Session s(*model, tokenizer());
      const GenerateResult r = s.generate(prompt, l);
      EXPECT_EQ(r.tokens, std::vector<int>(full.tokens.begin(), full.tokens.begin() + limit));
    }
    if (full.text.size() >= 8) {  // a stop string from the middle of the output
      GenerateOptions st = o;
      st.stop = {full.text.substr(full.text.size() / 2, 3)};
      GenerateOptions pst = st;
      pst.spec.draft = 0;
      Session ps(*model, tokenizer());
      const GenerateResult want = ps.generate(prompt, pst);
      Session s(*model, tokenizer());
      const GenerateResult r = s.generate(prompt, st);
      EXPECT_EQ(r.text, want.text);
      EXPECT_EQ(r.tokens, want.tokens);
      EXPECT_EQ(r.finish_reason, "stop");
      // The session continues from there as a plain one would.
      EXPECT_EQ(s.cached_tokens(), ps.cached_tokens());
    }
    {  // the context fills up
      Session s(*model, tokenizer(), static_cast<int64_t>(prompt.size()) + 11);
      const GenerateResult r = s.generate(prompt, o);
      EXPECT_EQ(r.finish_reason, "context");
      EXPECT_EQ(r.tokens, std::vector<int>(full.tokens.begin(), full.tokens.begin() + 11));
    }
  }
}

// Follow-up turns reuse both caches (also after a turn without speculation), and give what a
// fresh session gives.
TEST(Speculative, FollowUpTurnsReuseTheCaches) {
  InvariantKernels invariant;
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    auto model = load_model(kModels + name);
    const int vocab = static_cast<int>(model->config().vocab_size);
    GenerateOptions o;
    o.max_tokens = 25;
    o.stop_at_eos = false;
    o.spec.draft = 3;
    Session s(*model, tokenizer());
    std::vector<int> prompt = random_ids(12, vocab, 1);
    for (int turn = 0; turn < 5; ++turn) {
      GenerateOptions t = o;
      if (turn == 2) t.spec.draft = 0;  // a turn without speculation in between
      const GenerateResult r = s.generate(prompt, t);
      GenerateOptions plain = o;
      plain.spec.draft = 0;
      Session fresh(*model, tokenizer());
      EXPECT_EQ(r.tokens, fresh.generate(prompt, plain).tokens) << "turn " << turn;
      if (turn == 1 || turn == 4) {
        EXPECT_GT(r.reused_tokens, 0) << "turn " << turn;
      }
      // The next prompt: this one, the answer, and a new user message.
      prompt.insert(prompt.end(), r.tokens.begin(), r.tokens.end());
      const auto more = random_ids(5, vocab, 50 + turn);
      prompt.insert(prompt.end(), more.begin(), more.end());
    }
    // A prompt that diverges inside the last answer (the caches go back into generated positions).
    std::vector<int> edit(prompt.begin(), prompt.end() - 20);
    edit.push_back(3);
    const GenerateResult r = s.generate(edit, o);
    GenerateOptions plain = o;
    plain.spec.draft = 0;
    Session fresh(*model, tokenizer());
    EXPECT_EQ(r.tokens, fresh.generate(edit, plain).tokens);
  }
}

// After a speculative run the MTP layer's cache and pending hidden states are exactly what
// feeding the final token list from scratch gives: the next draft's logits agree.
TEST(Speculative, MtpStateAfterRollbackEqualsRecompute) {
  InvariantKernels invariant;
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    auto model = load_model(kModels + name);
    const int64_t V = model->config().vocab_size, H = model->config().hidden;
    const auto prompt = random_ids(10, static_cast<int>(V), 3);
    auto cache = model->new_cache();
    MtpState mtp;
    std::vector<int> tokens;
    SamplingParams sp;
    Sampler sampler(sp, V);
    SpeculativeDecoder dec(*model, *cache, mtp, tokens, sampler, 4);
    dec.prefill(prompt);
    for (int i = 0; i < 33; ++i) {
      dec.next(64);
      dec.commit();
    }
    dec.next(64);  // leaves accepted drafts in the cache beyond what was committed
    dec.finish();
    ASSERT_EQ(cache->n_past(), static_cast<int64_t>(tokens.size()));
    ASSERT_EQ(static_cast<int64_t>(mtp.pending.size()), (cache->n_past() - mtp.cache->n_past()) * H);
    ASSERT_GE(mtp.pending.size(), static_cast<size_t>(H));
    // The same tokens from scratch: main hidden states of every position, MTP over all pairs.
    auto fresh = model->new_cache();
    std::vector<int32_t> ids(tokens.begin(), tokens.end());
    std::vector<float> logits, hidden, l1, o1, l2, o2;
    SequenceChunk c{ids, fresh.get(), false};
    model->forward_hidden({&c, 1}, logits, hidden);
    const int64_t n = static_cast<int64_t>(ids.size());
    const int32_t probe = 5;  // the next pair: (h_{n-1}, probe)
    std::vector<int32_t> next(ids.begin() + 1, ids.end());
    next.push_back(probe);
    auto mfresh = model->new_mtp_cache();
    MtpChunk a{next, hidden.data(), mfresh.get(), 1};
    model->mtp_forward({&a, 1}, l1, o1);
    const int64_t m = mtp.cache->n_past();
    std::vector<int32_t> rest(ids.begin() + m + 1, ids.end());
    rest.push_back(probe);
    MtpChunk b{rest, mtp.pending.data(), mtp.cache.get(), 1};
    model->mtp_forward({&b, 1}, l2, o2);
    double worst = 0;
    for (int64_t v = 0; v < V; ++v) worst = std::max(worst, std::fabs(double(l1[v]) - l2[v]));
    EXPECT_LT(worst, 1e-4) << n << " tokens, MTP at " << m;
  }
}

// Chi-square statistic of `counts` against `probs` (bins with expected < 5 pooled); sets `df`.
double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& probs, int64_t total, int& df) {
  double chi = 0, pool_e = 0, pool_o = 0;
  df = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double e = probs[i] * static_cast<double>(total);
    if (e < 5) {
      pool_e += e;
      pool_o += static_cast<double>(counts[i]);
      continue;
    }
    chi += (counts[i] - e) * (counts[i] - e) / e;
    ++df;
  }
  if (pool_e > 0) {
    chi += (pool_o - pool_e) * (pool_o - pool_e) / std::max(pool_e, 1e-9);
    ++df;
  }
  return chi;
}

// Upper 0.1 % point of chi-square with df degrees of freedom (Wilson-Hilferty).
double chi_square_limit(int df) {
  const double k = df, z = 3.09;
  return k * std::pow(1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k)), 3);
}

// The accept/resample rule alone: drafts from q, output distributed as p.
TEST(SpeculativeSampling, AcceptRuleGivesTheTargetDistribution) {
  const std::vector<float> p = {0.05f, 0.4f, 0.0f, 0.25f, 0.2f, 0.1f};
  const std::vector<float> q = {0.3f, 0.1f, 0.2f, 0.25f, 0.05f, 0.1f};
  SamplingParams sp;
  sp.temperature = 1;
  sp.seed = 11;
  Sampler s(sp, 6);
  std::vector<float> scratch;
  std::vector<int64_t> counts(6, 0);
  const int64_t trials = 200000;
  int64_t accepted = 0;
  for (int64_t i = 0; i < trials; ++i) {
    const int d = s.draw(q);
    const int r = speculative_accept(p, q, d, s.uniform(), s, scratch);
    accepted += r < 0;
    counts[r < 0 ? d : r]++;
  }
  std::vector<double> pd(p.begin(), p.end());
  int df = 0;
  const double chi = chi_square(counts, pd, trials, df);
  EXPECT_LT(chi, chi_square_limit(df)) << "df " << df;
  EXPECT_EQ(counts[2], 0);  // p = 0 is never produced
  // Acceptance rate is sum(min(p, q)) = 0.55.
  EXPECT_NEAR(static_cast<double>(accepted) / trials, 0.55, 0.01);
}

// End to end on the model: the second generated token (accepted draft or resampled) has the
// target marginal sum_t1 p(t1) p(t2 | t1), computed directly from the model. At temperature 1 the
// random MTP layer's drafts are mostly rejected (the resampling path); at temperature 4 both
// distributions are flat enough that most are accepted.
class SecondToken : public ::testing::TestWithParam<float> {};

TEST_P(SecondToken, FollowsTheModel) {
  InvariantKernels invariant;
  auto model = load_model(kModels + "kexaone-moe-fused");
  const int64_t V = model->config().vocab_size;
  const auto prompt = random_ids(6, static_cast<int>(V), 21);
  SamplingParams sp;
  sp.temperature = GetParam();
  // The exact marginal.
  std::vector<double> marginal(V, 0.0);
  {
    auto cache = model->new_cache();
    std::vector<int32_t> ids(prompt.begin(), prompt.end());
    std::vector<float> logits, p1, p2;
    SequenceChunk c{ids, cache.get(), false};
    model->forward({&c, 1}, logits);
    Sampler s(sp, V);
    s.distribution(logits, {}, {}, p1);
    const int64_t P = cache->n_past();
    for (int64_t t1 = 0; t1 < V; ++t1) {
      if (p1[t1] <= 0) continue;
      ASSERT_TRUE(cache->truncate(P));
      const int32_t one = static_cast<int32_t>(t1);
      SequenceChunk d{std::span<const int32_t>(&one, 1), cache.get(), false};
      model->forward({&d, 1}, logits);
      s.distribution(logits, {}, {}, p2);
      for (int64_t t2 = 0; t2 < V; ++t2) marginal[t2] += double(p1[t1]) * p2[t2];
    }
  }
  GenerateOptions o;
  o.sampling = sp;
  o.max_tokens = 3;  // the second token is then drafted (one draft) and verified
  o.stop_at_eos = false;
  o.spec.draft = 2;
  const int64_t runs = 3000;
  std::vector<int64_t> counts(V, 0);
  Session s(*model, tokenizer());
  SpecStats st;
  for (int64_t i = 0; i < runs; ++i) {
    o.sampling.seed = 1000 + static_cast<uint64_t>(i);
    const GenerateResult r = s.generate(prompt, o);
    ASSERT_EQ(r.tokens.size(), 3u);
    counts[r.tokens[1]]++;
    st.drafted += r.spec.drafted;
    st.accepted += r.spec.accepted;
  }
  int df = 0;
  const double chi = chi_square(counts, marginal, runs, df);
  EXPECT_LT(chi, chi_square_limit(df)) << "df " << df;
  // Both branches ran: some drafts accepted, some resampled.
  EXPECT_GT(st.accepted, GetParam() > 2 ? st.drafted / 3 : 0);
  EXPECT_LT(st.accepted, st.drafted);
  std::printf("chi-square %.1f (df %d, limit %.1f); %lld of %lld drafts accepted\n", chi, df, chi_square_limit(df),
              static_cast<long long>(st.accepted), static_cast<long long>(st.drafted));
}

INSTANTIATE_TEST_SUITE_P(SpeculativeSampling, SecondToken, ::testing::Values(1.0f, 4.0f));

TEST(Speculative, ModelWithoutMtpIsRefused) {
  auto model = load_model(kModels + "exaone4-hybrid-layertypes");
  GenerateOptions o;
  o.spec.draft = 2;
  Session s(*model, tokenizer());
  try {
    s.generate({1, 2, 3}, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multi-token-prediction"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace exaone

// Measurement commands: `exaone bench` (prefill/decode speed against the memory-bandwidth
// roofline), `exaone perplexity` (llama.cpp-style), and the hidden `exaone make-model`, which
// writes a random-weight Hugging Face checkpoint of a real EXAONE shape (runtime/random_checkpoint.h)
// so that speed can be measured without downloading weights.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>

#include "cli/cli.h"
#include "models/lora.h"
#include "models/model.h"
#include "runtime/bandwidth.h"
#include "kernels/cpu_features.h"
#include "kernels/kernel_paths.h"
#include "kernels/matmul.h"
#include "kernels/peak_probe.h"
#include "runtime/perplexity.h"
#include "runtime/random_checkpoint.h"
#include "runtime/model_files.h"
#include "runtime/sampler.h"
#include "runtime/speculative.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/parallel.h"
#include "util/paths.h"

namespace exaone::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Resident set size of this process now (Linux /proc/self/statm), 0 if unknown.
size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void set_threads(int threads) {
  if (threads < 1) fail("-t/--threads must be at least 1, got " + std::to_string(threads));
  set_num_threads(threads);
}

// ---------------------------------------------------------------------------------------------
// exaone bench

struct BenchFlags {
  std::string model;
  int64_t n_prompt = 512, n_gen = 128;
  int64_t depth = 0;  // context already in the cache when decode starts
  int64_t batch = 1;  // sequences decoded together (one batched forward per step, as the server runs them)
  int threads = 0;  // 0: all (num_threads())
  bool threads_given = false;
  int repetitions = 3;
  uint64_t seed = 1234;
  int64_t bandwidth_mib = 1024;
  std::string kv_type = "f32";
  bool as_json = false;
  std::string spec;  // "mtp": also greedy generation with and without MTP speculation
  int draft = 3;
  std::vector<std::string> lora;  // --lora PATH[:SCALE], repeatable
};

struct Stats {
  std::vector<double> seconds;  // per repetition
  int64_t tokens = 0;
  double mean_tok_s() const {
    double s = 0;
    for (double x : seconds) s += tokens / x;
    return s / static_cast<double>(seconds.size());
  }
  double sd_tok_s() const {
    if (seconds.size() < 2) return 0;
    const double m = mean_tok_s();
    double v = 0;
    for (double x : seconds) v += (tokens / x - m) * (tokens / x - m);
    return std::sqrt(v / static_cast<double>(seconds.size() - 1));
  }
  double mean_seconds() const {
    double s = 0;
    for (double x : seconds) s += x;
    return s / static_cast<double>(seconds.size());
  }
  json to_json() const {
    json samples = json::array();
    for (double x : seconds) samples.push_back(tokens / x);
    return {{"tokens", tokens}, {"tokens_per_s", mean_tok_s()}, {"stddev", sd_tok_s()},
            {"mean_seconds", mean_seconds()}, {"samples_tokens_per_s", samples}};
  }
};

// Float32 K/V bytes one decode step reads, averaged over the steps at positions
// from..to-1 (a sliding layer reads at most its window).
double kv_bytes_per_decode_token(const ModelConfig& c, int64_t from, int64_t to, DType kv_type) {
  if (to <= from) return 0;
  double total = 0;
  for (int64_t pos = from; pos < to; ++pos)
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const int64_t len = c.layer_sliding[l] ? std::min(pos + 1, c.sliding_window) : pos + 1;
      total += 2.0 * static_cast<double>(dtype_bytes_for(kv_type, c.kv_dim())) * static_cast<double>(len);
    }
  return total / static_cast<double>(to - from);
}

// Greedy generation of n_gen tokens after `prompt` (decode timed, prefill not): plainly, one
// token per forward, or with MTP self-speculation (draft > 0). Both in batch-invariant mode, so the
// two produce the same tokens.
struct GenRun {
  std::vector<double> seconds;
  std::vector<int> tokens;
  SpecStats stats;
};

void greedy_run(Model& m, const std::vector<int>& prompt, int64_t n_gen, DType kv_type, int draft, GenRun& out) {
  const int64_t context = static_cast<int64_t>(prompt.size()) + n_gen + draft + 1;
  auto cache = m.new_cache(context, kv_type);
  std::vector<int> tokens, generated;
  Sampler sampler(SamplingParams{}, m.config().vocab_size);
  generated.reserve(static_cast<size_t>(n_gen));
  Clock::time_point t0;
  if (draft > 0) {
    MtpState mtp;
    SpeculativeDecoder dec(m, *cache, mtp, tokens, sampler, draft);
    dec.prefill(prompt);
    t0 = Clock::now();
    for (int64_t i = 0; i < n_gen; ++i) {
      generated.push_back(dec.next(n_gen - i));
      dec.commit();
    }
    out.seconds.push_back(seconds_since(t0));
    out.stats.steps += dec.stats().steps;
    out.stats.drafted += dec.stats().drafted;
    out.stats.accepted += dec.stats().accepted;
  } else {
    std::vector<float> logits;
    std::vector<int32_t> ids(prompt.begin(), prompt.end());
    SequenceChunk c{ids, cache.get(), false};
    m.forward({&c, 1}, logits);
    tokens.assign(prompt.begin(), prompt.end());
    t0 = Clock::now();
    for (int64_t i = 0; i < n_gen; ++i) {
      const int id = sampler.sample(logits, tokens, generated);
      generated.push_back(id);
      tokens.push_back(id);
      const int32_t one = id;
      SequenceChunk d{std::span<const int32_t>(&one, 1), cache.get(), false};
      m.forward({&d, 1}, logits);
    }
    out.seconds.push_back(seconds_since(t0));
  }
  out.tokens = generated;
}

void cmd_bench(BenchFlags f) {
  if (f.n_prompt < 0 || f.n_gen < 0 || f.n_prompt + f.n_gen < 1)
    fail("bench: -p and -n must be >= 0 and not both 0 (got -p " + std::to_string(f.n_prompt) + " -n " +
         std::to_string(f.n_gen) + ")");
  if (f.depth < 0) fail("bench: --depth must be >= 0, got " + std::to_string(f.depth));
  if (f.batch < 1 || f.batch > 256) fail("bench: --batch must be 1..256, got " + std::to_string(f.batch));
  if (f.repetitions < 1) fail("bench: --repetitions must be at least 1, got " + std::to_string(f.repetitions));
  if (f.bandwidth_mib < 1) fail("bench: --bandwidth-mib must be at least 1, got " + std::to_string(f.bandwidth_mib));
  if (!f.spec.empty() && f.spec != "mtp") fail("bench: --spec: unknown method '" + f.spec + "' (mtp)");
  if (!f.spec.empty() && (f.draft < 1 || f.draft > 64)) fail("bench: --draft must be 1..64, got " + std::to_string(f.draft));
  if (!f.spec.empty() && f.n_gen < 1) fail("bench: --spec mtp needs -n >= 1");
  if (!f.threads_given) f.threads = num_threads();
  set_threads(f.threads);

  const auto t_load = Clock::now();
  auto model = load_model(f.model, parse_lora_specs(f.lora));
  const double load_s = seconds_since(t_load);
  json loras = json::array();
  for (const std::string& line : describe_loras(*model)) loras.push_back(line);
  if (!f.spec.empty() && !model->has_mtp())
    fail("bench: --spec mtp: " + f.model +
         " has no multi-token-prediction layer (mtp.* tensors; K-EXAONE checkpoints carry one)");
  const ModelConfig& c = model->config();
  // As llama-bench: the prefill and the decode run are separate tests, each from an empty cache
  // (decode from --depth tokens of context when given).
  const int64_t context = std::max(f.n_prompt, f.depth + f.n_gen);
  const DType kv_type = parse_kv_type(f.kv_type);
  if (context > c.max_position)
    fail("bench: " + std::string(f.n_prompt >= f.depth + f.n_gen ? "-p" : "--depth + -n") + " = " +
         std::to_string(context) + " exceeds the model's context length " + std::to_string(c.max_position));

  // Random ids, fixed seed: the same run on another build reads the same rows.
  std::mt19937_64 rng(f.seed);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(c.vocab_size - 1));
  std::vector<int32_t> prompt(f.n_prompt), gen(f.n_gen), depth_tokens(f.depth);
  for (auto& t : prompt) t = pick(rng);
  for (auto& t : gen) t = pick(rng);
  for (auto& t : depth_tokens) t = pick(rng);

  std::vector<float> logits;
  auto step = [&](std::span<const int32_t> toks, KVCache& cache) {
    SequenceChunk chunk{toks, &cache, false};
    model->forward({&chunk, 1}, logits);
  };
  {  // Warm-up: maps every weight page and spins up the thread pool; not timed.
    auto cache = model->new_cache(context, kv_type);
    const std::vector<int32_t> first(prompt.empty() ? gen.begin() : prompt.begin(),
                                     prompt.empty() ? gen.begin() + 1 : prompt.begin() + std::min<int64_t>(8, f.n_prompt));
    step(first, *cache);
  }

  Stats pp, tg;
  size_t rss_after_decode = 0, kv_allocated = 0;
  const size_t bw_bytes = static_cast<size_t>(f.bandwidth_mib) << 20;
  constexpr int kPassesPerRun = 3;
  std::vector<BandwidthResult> bw_runs;
  pp.tokens = f.n_prompt;
  tg.tokens = f.n_gen * f.batch;
  for (int rep = 0; rep < f.repetitions; ++rep) {
    double prefill_s = 0;
    if (f.n_prompt > 0) {
      auto pp_cache = model->new_cache(context, kv_type);
      const auto t0 = Clock::now();
      step(prompt, *pp_cache);
      prefill_s = seconds_since(t0);
    }
    std::vector<std::unique_ptr<KVCache>> caches;
    for (int64_t b = 0; b < f.batch; ++b) {
      caches.push_back(model->new_cache(context, kv_type));
      if (f.depth > 0) step(depth_tokens, *caches.back());  // untimed context
    }
    std::vector<SequenceChunk> chunks(static_cast<size_t>(f.batch));
    const auto t1 = Clock::now();
    for (int64_t i = 0; i < f.n_gen; ++i) {
      for (int64_t b = 0; b < f.batch; ++b)  // each sequence its own token, one forward for all
        chunks[b] = {std::span<const int32_t>(gen).subspan((i + 7 * b) % f.n_gen, 1), caches[b].get(), false};
      model->forward(chunks, logits);
    }
    const double decode_s = seconds_since(t1);
    rss_after_decode = resident_bytes();  // before the bandwidth buffer exists
    kv_allocated = 0;
    for (const auto& cache : caches) kv_allocated += cache->bytes_allocated();
    if (f.n_prompt > 0) pp.seconds.push_back(prefill_s);
    if (f.n_gen > 0) {
      tg.seconds.push_back(decode_s);
      // The bandwidth read right after each decode run: on a shared host it drifts by tens of
      // percent within minutes, so each run is set against its own.
      bw_runs.push_back(measure_read_bandwidth(bw_bytes, f.threads, kPassesPerRun));
    }
    if (!f.as_json)
      std::fprintf(stderr, "repetition %d/%d: prefill %.3f s, decode %.3f s\n", rep + 1, f.repetitions, prefill_s,
                   decode_s);
  }

  if (bw_runs.empty()) bw_runs.push_back(measure_read_bandwidth(bw_bytes, f.threads, 5));  // prefill only
  BandwidthResult bw = bw_runs[0];  // over all runs: the best pass, the mean of the means
  bw.mean_gb_s = 0;
  for (const BandwidthResult& b : bw_runs) {
    bw.best_gb_s = std::max(bw.best_gb_s, b.best_gb_s);
    bw.mean_gb_s += b.mean_gb_s / static_cast<double>(bw_runs.size());
  }
  bw.passes = bw_runs[0].passes * static_cast<int>(bw_runs.size());
  const double weight_bytes = static_cast<double>(decode_weight_bytes_per_token(*model));
  const double kv_bytes = kv_bytes_per_decode_token(c, f.depth, f.depth + f.n_gen, kv_type);
  const double ideal_s = weight_bytes / (bw.best_gb_s * 1e9);
  const double ceiling_tok_s = 1.0 / ideal_s;
  const double measured_s = f.n_gen > 0 ? tg.mean_seconds() / static_cast<double>(f.n_gen) : 0;
  // Roofline fraction: each decode run against the bandwidth read right after it; the median.
  std::vector<double> fractions;
  for (size_t i = 0; i < tg.seconds.size(); ++i)
    fractions.push_back(weight_bytes / (bw_runs[i].best_gb_s * 1e9) / (tg.seconds[i] / static_cast<double>(f.n_gen)));
  json fractions_json = fractions;
  std::sort(fractions.begin(), fractions.end());
  const size_t nf = fractions.size();
  const double roofline = nf == 0 ? 0 : (nf % 2 ? fractions[nf / 2] : (fractions[nf / 2 - 1] + fractions[nf / 2]) / 2);
  // The CPU's peaks (short register loops, like the bandwidth probe) and the prefill's share of them.
  const double peak_f32 = probe_peak(PeakKind::F32, f.threads), peak_int8 = probe_peak(PeakKind::Int8, f.threads);
  const double prefill_gops =
      f.n_prompt > 0 ? pp.mean_tok_s() * 2.0 * matmul_params_per_token(*model) / 1e9 : 0.0;

  // Speculative decoding: greedy generation with and without the MTP drafts, same prompt. The
  // model's own text is needed for a meaningful acceptance rate: a fixed sentence through the
  // model's tokenizer when it has one, else the random prompt ids.
  json spec_json = nullptr;
  GenRun plain_run, spec_run;
  if (!f.spec.empty()) {
    std::vector<int> sp;
    try {
      sp = load_tokenizer(f.model).encode(
          "Explain, step by step, how a refrigerator keeps food cold, and why the back of it feels warm.");
    } catch (const Error&) {
      sp.assign(prompt.begin(), prompt.end());
    }
    if (sp.empty()) sp.push_back(static_cast<int>(c.bos_id >= 0 ? c.bos_id : 1));
    const bool was_invariant = batch_invariant();
    set_batch_invariant(true);
    for (int rep = 0; rep < f.repetitions; ++rep) {
      greedy_run(*model, sp, f.n_gen, kv_type, 0, plain_run);
      greedy_run(*model, sp, f.n_gen, kv_type, f.draft, spec_run);
    }
    set_batch_invariant(was_invariant);
    auto mean_tok_s = [&](const GenRun& r) {
      double x = 0;
      for (double t : r.seconds) x += static_cast<double>(f.n_gen) / t;
      return x / static_cast<double>(r.seconds.size());
    };
    spec_json = {{"method", "mtp"},
                 {"draft", f.draft},
                 {"prompt_tokens", sp.size()},
                 {"plain_tokens_per_s", mean_tok_s(plain_run)},
                 {"spec_tokens_per_s", mean_tok_s(spec_run)},
                 {"acceptance_rate", spec_run.stats.acceptance_rate()},
                 {"tokens_per_verify",
                  spec_run.stats.steps > 0 ? static_cast<double>(f.n_gen * f.repetitions) / spec_run.stats.steps : 0.0},
                 {"identical_output", plain_run.tokens == spec_run.tokens}};
  }

  json kernels = json::object();
  std::string kernels_line;
  for (const auto& [op, path] : kernel_paths()) {
    kernels[op] = path;
    if (op.rfind("train_", 0) != 0) kernels_line += (kernels_line.empty() ? "" : ", ") + op + " " + path;
  }
  if (f.as_json) {
    json out = {{"model", f.model},
                {"cpu_features", cpu_features().summary()},
                {"kernels", kernels},
                {"architecture", family_name(c.family)},
                {"weight_dtype", model->weight_dtype_summary()},
                {"parameters", model->parameter_count()},
                {"weights_bytes", model->weights().total_bytes()},
                {"threads", f.threads},
                {"n_prompt", f.n_prompt},
                {"n_gen", f.n_gen},
                {"depth", f.depth},
                {"batch", f.batch},
                {"repetitions", f.repetitions},
                {"seed", f.seed},
                {"load_seconds", load_s},
                {"prefill", f.n_prompt > 0 ? pp.to_json() : json(nullptr)},
                {"decode", f.n_gen > 0 ? tg.to_json() : json(nullptr)},
                {"bandwidth",
                 {{"best_gb_s", bw.best_gb_s}, {"mean_gb_s", bw.mean_gb_s}, {"buffer_bytes", bw.buffer_bytes},
                  {"threads", bw.threads}, {"passes", bw.passes}}},
                {"decode_weight_bytes_per_token", weight_bytes},
                {"decode_kv_bytes_per_token", kv_bytes},
                {"decode_ceiling_tokens_per_s", ceiling_tok_s},
                {"roofline_fraction", f.n_gen > 0 ? json(roofline) : json(nullptr)},
                {"roofline_fraction_per_repetition", fractions_json},
                {"peaks",
                 {{"fp32_gflops", peak_f32}, {"fp32_path", peak_path(PeakKind::F32)}, {"int8_gops", peak_int8},
                  {"int8_path", peak_path(PeakKind::Int8)}}},
                {"prefill_gops", f.n_prompt > 0 ? json(prefill_gops) : json(nullptr)},
                {"prefill_fraction_of_fp32_peak", f.n_prompt > 0 && peak_f32 > 0 ? json(prefill_gops / peak_f32) : json(nullptr)},
                {"prefill_fraction_of_int8_peak", f.n_prompt > 0 && peak_int8 > 0 ? json(prefill_gops / peak_int8) : json(nullptr)},
                {"resident_bytes_after_decode", rss_after_decode},
                {"kv_cache_bytes", kv_allocated},
                {"kv_cache_type", dtype_name(kv_type)},
                {"speculative", spec_json},
                {"lora", loras}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::printf("model       %s (%s, %s, %.0f M parameters, %.2f GB of weights, loaded in %.2f s)\n", f.model.c_str(),
              family_name(c.family), model->weight_dtype_summary().c_str(), model->parameter_count() / 1e6,
              model->weights().total_bytes() / 1e9, load_s);
  for (const auto& l : loras) std::printf("lora        %s (unmerged)\n", l.get<std::string>().substr(5).c_str());
  std::printf("threads     %d, %d repetitions, token seed %llu\n\n", f.threads, f.repetitions,
              static_cast<unsigned long long>(f.seed));
  std::printf("| test   | tokens | tok/s    | +/- sd  |\n|--------|--------|----------|---------|\n");
  if (f.n_prompt > 0)
    std::printf("| pp%-4lld | %6lld | %8.2f | %7.2f |\n", static_cast<long long>(f.n_prompt),
                static_cast<long long>(f.n_prompt), pp.mean_tok_s(), pp.sd_tok_s());
  if (f.n_gen > 0) {
    const std::string name = "tg" + std::to_string(f.n_gen) + (f.batch > 1 ? " x" + std::to_string(f.batch) : "") +
                             (f.depth > 0 ? " @ d" + std::to_string(f.depth) : "");
    std::printf("| %-6s | %6lld | %8.2f | %7.2f |\n", name.c_str(), static_cast<long long>(tg.tokens), tg.mean_tok_s(),
                tg.sd_tok_s());
  }
  std::printf("\nmemory read bandwidth   %.1f GB/s best, %.1f mean (%zu MiB buffer, %d threads, %d passes)\n",
              bw.best_gb_s, bw.mean_gb_s, bw.buffer_bytes >> 20, bw.threads, bw.passes);
  std::printf("decode bytes per token  %.3f GB of weights (+ %.3f GB %s KV cache, not counted)\n",
              weight_bytes / 1e9, kv_bytes / 1e9, dtype_name(kv_type));
  std::printf("decode ceiling          %.2f tok/s (bandwidth / weight bytes per token)\n", ceiling_tok_s);
  if (f.n_gen > 0) {
    std::printf("roofline fraction       %.1f %% (median of %zu runs, each against the bandwidth read right after it)\n",
                100 * roofline, nf);
    std::printf("time per %-14s %.1f ms measured (mean), %.1f ms at the best bandwidth\n",
                f.batch > 1 ? "decode step" : "token", 1e3 * measured_s,
                1e3 * ideal_s);
  }
  std::printf("kernels                 %s\n", kernels_line.c_str());
  std::printf("compute peaks           fp32 %.0f GFLOP/s (%s), int8 %.0f GOP/s (%s)\n", peak_f32,
              peak_path(PeakKind::F32).c_str(), peak_int8, peak_path(PeakKind::Int8).c_str());
  if (f.n_prompt > 0 && peak_f32 > 0 && peak_int8 > 0)
    std::printf("prefill                 %.0f GOP/s (2 per weight a token multiplies) = %.1f %% of the fp32 peak, %.1f %% "
                "of the int8 peak\n",
                prefill_gops, 100 * prefill_gops / peak_f32, 100 * prefill_gops / peak_int8);
  if (!spec_json.is_null()) {
    std::printf("\ngreedy generation, %lld tokens after a %lld-token prompt (batch-invariant kernels, %d repetitions):\n",
                static_cast<long long>(f.n_gen), static_cast<long long>(spec_json["prompt_tokens"].get<int64_t>()),
                f.repetitions);
    std::printf("  plain                   %8.2f tok/s\n", spec_json["plain_tokens_per_s"].get<double>());
    std::printf("  MTP speculation, N = %-2d %8.2f tok/s  (x%.2f), acceptance %.1f %%, %.2f tokens per verify, %s\n",
                f.draft, spec_json["spec_tokens_per_s"].get<double>(),
                spec_json["spec_tokens_per_s"].get<double>() / spec_json["plain_tokens_per_s"].get<double>(),
                100 * spec_json["acceptance_rate"].get<double>(), spec_json["tokens_per_verify"].get<double>(),
                spec_json["identical_output"].get<bool>() ? "same tokens" : "TOKENS DIFFER");
  }
  const double weights_b = static_cast<double>(model->weights().total_bytes());
  std::printf("resident memory         %.0f MB after the last run = weights %.0f MB + KV cache %.1f MB + other %.0f MB\n",
              rss_after_decode / 1e6, weights_b / 1e6, kv_allocated / 1e6,
              (static_cast<double>(rss_after_decode) - weights_b - static_cast<double>(kv_allocated)) / 1e6);
}

// ---------------------------------------------------------------------------------------------
// exaone perplexity

struct PerplexityFlags {
  std::string model, tokenizer, file;
  int64_t ctx = 512, batch = 0, chunks = 0;
  int threads = 0;
  bool threads_given = false;
  bool add_bos = false;
};

void cmd_perplexity(const PerplexityFlags& f) {
  if (f.threads_given) set_threads(f.threads);
  if (f.ctx < 3) fail("perplexity: --ctx must be at least 3, got " + std::to_string(f.ctx));
  if (f.batch < 0) fail("perplexity: --batch must be positive, got " + std::to_string(f.batch));
  const std::string text = read_text_file(f.file);
  if (text.empty()) fail("perplexity: " + f.file + " is empty");
  Tokenizer tok = f.tokenizer.empty() ? load_tokenizer(f.model) : Tokenizer::from_model_path(f.tokenizer);
  const std::vector<int> ids = tok.encode(text);
  auto model = load_model(f.model);

  PerplexityOptions o;
  o.ctx = f.ctx;
  o.batch = f.batch;
  o.max_chunks = f.chunks;
  if (f.add_bos) {
    std::optional<int> bos = tok.bos_id();
    if (!bos && model->config().bos_id >= 0) bos = static_cast<int>(model->config().bos_id);
    if (!bos) fail("perplexity: --add-bos: the model declares no BOS token");
    o.bos_id = *bos;
  }
  const int64_t n_chunks_all = static_cast<int64_t>(ids.size()) / std::max<int64_t>(f.ctx, 1);
  std::fprintf(stderr, "perplexity: %zu tokens, %lld chunks of %lld, scoring %lld tokens per chunk\n", ids.size(),
               static_cast<long long>(f.chunks > 0 ? std::min(f.chunks, n_chunks_all) : n_chunks_all),
               static_cast<long long>(f.ctx), static_cast<long long>(f.ctx - 1 - f.ctx / 2));
  const auto t0 = Clock::now();
  PerplexityResult r = compute_perplexity(*model, ids, o, [&](int64_t chunk, int64_t n, double ppl) {
    std::fprintf(stderr, "[%lld/%lld] %.4f  (%.1f s)\n", static_cast<long long>(chunk + 1), static_cast<long long>(n),
                 ppl, seconds_since(t0));
  });
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_error);
  std::fprintf(stderr, "%lld chunks, %lld scored tokens, mean NLL %.6f\n", static_cast<long long>(r.chunks),
               static_cast<long long>(r.scored_tokens), r.mean_nll);
}

// ---------------------------------------------------------------------------------------------
// exaone make-model (hidden): random weights of a real shape, for benchmarks (runtime/random_checkpoint.h).

void cmd_make_model(const RandomCheckpointOptions& o) {
  const RandomCheckpointResult r = write_random_checkpoint(o);
  std::printf("wrote %s: shape %s, %s, %.2f GB in %zu file(s), %.2fB parameters (%.2fB active per token), seed %llu "
              "(random weights, no tokenizer)\n",
              o.out.c_str(), o.shape.c_str(), o.dtype.c_str(), r.bytes / 1e9, r.shards, r.parameters / 1e9,
              r.active_parameters / 1e9, static_cast<unsigned long long>(o.seed));
}

}  // namespace

void register_bench_commands(CLI::App& app) {
  {
    static BenchFlags f;
    auto* cmd = app.add_subcommand("bench", "prefill and decode speed, memory bandwidth and the decode roofline");
    add_model_option(cmd, f.model);
    cmd->add_option("-p,--n-prompt", f.n_prompt, "prompt tokens of the prefill (default 512; 0 = skip)");
    cmd->add_option("-n,--n-gen", f.n_gen, "decode steps, from an empty cache like llama-bench (default 128; 0 = skip)");
    cmd->add_option("--depth", f.depth, "tokens of context already cached when decode starts (default 0)");
    cmd->add_option("--batch", f.batch,
                    "sequences decoded together, one batched forward per step as the server runs them (default 1); "
                    "tok/s counts all of them, the roofline is per step");
    cmd->add_option("--kv-type", f.kv_type, "KV cache storage: f32 (default), f16, bf16, q8_0");
    cmd->add_option("-t,--threads", f.threads, "threads (default: all CPUs, or $EXAONE_THREADS)")->each([](const std::string&) {
      f.threads_given = true;
    });
    cmd->add_option("-r,--repetitions", f.repetitions, "timed repetitions (default 3)");
    cmd->add_option("--seed", f.seed, "seed of the random token ids (default 1234)");
    cmd->add_option("--bandwidth-mib", f.bandwidth_mib, "buffer of the bandwidth measurement in MiB (default 1024)");
    cmd->add_flag("--json", f.as_json, "machine-readable output");
    cmd->add_option("--spec", f.spec,
                    "also time greedy generation of -n tokens with self-speculative decoding against without it "
                    "(mtp: the model's multi-token-prediction layer drafts); reports the acceptance rate");
    cmd->add_option("--draft", f.draft, "tokens drafted per step with --spec (default 3)");
    cmd->add_option("--lora", f.lora, kLoraOptionHelp);
    cmd->callback([] { cmd_bench(f); });
  }
  {
    static PerplexityFlags f;
    auto* cmd = app.add_subcommand("perplexity", "perplexity of a text file (llama.cpp method: second half of each chunk)");
    add_model_option(cmd, f.model);
    cmd->add_option("-f,--file", f.file, "text file")->required();
    cmd->add_option("-c,--ctx", f.ctx, "tokens per chunk (default 512)");
    cmd->add_option("-b,--batch", f.batch, "tokens per forward call (default: ctx)");
    cmd->add_option("-t,--threads", f.threads, "threads (default: all CPUs, or $EXAONE_THREADS)")->each([](const std::string&) {
      f.threads_given = true;
    });
    cmd->add_option("--chunks", f.chunks, "score at most this many chunks (default: all)");
    cmd->add_option("--tokenizer", f.tokenizer, "tokenizer folder or tokenizer.json (default: the model's)");
    cmd->add_flag("--add-bos", f.add_bos, "replace the first token of each chunk with BOS (as llama.cpp does when the vocabulary adds BOS)");
    cmd->callback([] { cmd_perplexity(f); });
  }
  {
    static RandomCheckpointOptions f;
    std::string shapes;
    for (const std::string& s : random_checkpoint_shapes()) shapes += "\n  " + s;
    auto* cmd = app.add_subcommand("make-model", "write a random-weight EXAONE checkpoint of a real shape (benchmarks)");
    cmd->group("");  // hidden from --help: a developer tool
    cmd->add_option("--shape", f.shape, "1.2b (default), or:" + shapes);
    cmd->add_option("-o,--output", f.out, "output folder")->required();
    cmd->add_option("--dtype", f.dtype, "bf16 (default), f16 or f32");
    cmd->add_option("--seed", f.seed, "weight seed (default 0)");
    cmd->add_option("--max-shard-bytes", f.max_shard_bytes, "largest safetensors file before sharding (default 4e9)");
    cmd->add_flag("--force", f.force, "overwrite an existing checkpoint");
    cmd->callback([] { cmd_make_model(f); });
  }
}

}  // namespace exaone::cli

// `exaone train`: pretraining from scratch (or from a checkpoint) on a text or token file, float32 on
// the CPU. Thin: the model, optimizer, loop and checkpoints live in src/train/.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/cli.h"
#include "kernels/gemm_train.h"
#include "models/model.h"
#include "runtime/model_files.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/governed_data.h"
#include "train/model.h"
#include "train/ops.h"
#include "train/plot.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/parallel.h"

namespace exaone::cli {

namespace {

namespace fs = std::filesystem;

struct TrainFlags {
  std::string model;       // tokenizer (and, without --config/--init, the architecture) source
  std::string config;      // config.json of the architecture to train from scratch
  std::string shape;       // or a shape: "layers=4,hidden=256,heads=4,kv=2,..." (EXAONE 4.0)
  std::string init;        // checkpoint to start from instead of random weights
  std::string resume;      // training checkpoint (out/checkpoint) to continue exactly
  std::string data, tokens;
  bool unscreened = false;  // allow data that did not pass `exaone comply scan`
  std::string out = "train-out";
  train::TrainOptions opt;
  double min_lr = -1;      // < 0: lr / 10
  int64_t warmup = -1;     // < 0: steps / 20
  float init_std = 0.02f;
  int64_t save_every = 0;
  int64_t stop_after = 0;  // > 0: end the run after this many steps (as if interrupted; tests resume)
  int threads = 0;
  double peak_gflops = 0;  // 0: estimated from the thread count
  std::string matmul = "fp32";  // fp32 | bf16 (bf16 products, float32 master weights and accumulation)
  bool bench = false;           // time --steps steps, print tokens/s and MFU against probed peaks, save nothing
  int64_t dp_bucket = int64_t{1} << 22;  // gradient elements per MPI message
};

// --bench: steps timed after one warm-up step; the median and the best step, MFU against the
// FP32 and BF16 peaks probed in this run, and the peak resident memory per parameter.
void run_bench(train::Trainer& tr, const train::TrainableModel& model, const train::TrainOptions& o,
               const std::string& matmul) {
  const bool root = tr.group().root();
  const int threads = num_threads();
  const double peak32 = probe_peak_gflops(GemmPrecision::F32, threads);
  const double peak16 = probe_peak_gflops(GemmPrecision::BF16, threads);
  if (root)
    std::fprintf(stderr, "bench: probed peak %.1f GFLOP/s fp32, %.1f GFLOP/s bf16 (%d threads)\n", peak32, peak16,
                 threads);
  tr.step();  // warm-up: first-touch of activations, pool start
  std::vector<double> tok_s;
  double loss = 0;
  for (int64_t i = 0; i < std::max<int64_t>(1, o.steps); ++i) {
    const train::StepStats st = tr.step();
    tok_s.push_back(static_cast<double>(st.tokens) / st.seconds);
    loss = st.loss;
    if (root) std::fprintf(stderr, "bench: step %lld loss %.4f %.0f tok/s\n", static_cast<long long>(i + 1), st.loss,
                 tok_s.back());
  }
  std::vector<double> sorted = tok_s;
  std::sort(sorted.begin(), sorted.end());
  const double med = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                       : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  const double flops = model.flops_per_token(o.seq) * med;
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const double rss = static_cast<double>(ru.ru_maxrss) * 1024.0;  // Linux: KiB
  const double params = static_cast<double>(model.parameter_count());
  if (!root) return;
  // Under MPI: tokens/s of all ranks together; the peaks and memory are this (rank 0's) process's.
  std::printf("bench: matmul=%s threads=%d params=%.0f tokens_per_step=%lld steps=%zu tok_s_median=%.1f "
              "tok_s_best=%.1f gflops=%.2f peak_fp32_gflops=%.1f peak_bf16_gflops=%.1f mfu_fp32=%.4f "
              "mfu_bf16=%.4f peak_rss_mb=%.1f rss_bytes_per_param=%.1f last_loss=%.5f ranks=%d\n",
              matmul.c_str(), threads, params, static_cast<long long>(o.batch * o.seq * o.accum), tok_s.size(), med,
              sorted.back(), flops / 1e9, peak32, peak16, peak32 > 0 ? flops / (peak32 * 1e9) : 0.0,
              peak16 > 0 ? flops / (peak16 * 1e9) : 0.0, rss / 1e6, rss / params, loss,
              tr.group().size());
}

std::vector<int32_t> read_token_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path + ": cannot open");
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() % 4 != 0) fail(path + ": size is not a multiple of 4 (int32 little-endian token ids expected)");
  std::vector<int32_t> ids(bytes.size() / 4);
  std::memcpy(ids.data(), bytes.data(), bytes.size());
  return ids;
}

// Curve rows of an earlier run (loss.csv), kept up to the resumed step.
std::vector<train::CurvePoint> read_curve(const std::string& path, int64_t before) {
  std::vector<train::CurvePoint> c;
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    train::CurvePoint p;
    long long step = 0;
    if (std::sscanf(line.c_str(), "%lld,%lf,%lf,%lf,%lf", &step, &p.loss, &p.lr, &p.grad_norm, &p.tokens_per_s) != 5)
      continue;
    p.step = step;
    if (p.step < before) c.push_back(p);
  }
  return c;
}

void copy_tokenizer_files(const std::string& from, const fs::path& to) {
  std::error_code ec;
  const fs::path dir = fs::is_directory(from, ec) ? fs::path(from) : fs::path(from).parent_path();
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                           "merges.txt", "chat_template.jinja", "generation_config.json"})
    if (fs::exists(dir / name)) fs::copy_file(dir / name, to / name, fs::copy_options::overwrite_existing);
}

// An EXAONE 4.0 config.json from "key=value,..." (keys below). The vocabulary defaults to the
// tokenizer's, rounded up to a multiple of 64 as the shipped checkpoints pad it.
json shape_config(const std::string& shape, const std::string& tokenizer_path) {
  std::map<std::string, std::string> kv;
  std::stringstream in(shape);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) fail("--shape: expected key=value, got '" + item + "'");
    kv[item.substr(0, eq)] = item.substr(eq + 1);
  }
  auto num = [&](const char* k, int64_t def) -> int64_t {
    auto it = kv.find(k);
    if (it == kv.end()) return def;
    try {
      size_t used = 0;
      const int64_t v = std::stoll(it->second, &used);
      if (used != it->second.size()) throw std::invalid_argument(k);
      kv.erase(it);
      return v;
    } catch (const std::exception&) {
      fail("--shape: '" + std::string(k) + "' must be an integer, got '" + it->second + "'");
    }
  };
  const int64_t hidden = num("hidden", 256), heads = num("heads", 4), kvh = num("kv", heads);
  const int64_t head_dim = num("head_dim", heads > 0 ? hidden / heads : 0), layers = num("layers", 4);
  const int64_t window = num("window", 0);
  int64_t vocab = num("vocab", 0);
  if (vocab == 0) vocab = (load_tokenizer(tokenizer_path).vocab_size() + 63) / 64 * 64;
  json j = {{"architectures", {"Exaone4ForCausalLM"}}, {"model_type", "exaone4"}, {"vocab_size", vocab},
            {"hidden_size", hidden}, {"intermediate_size", num("inter", hidden * 8 / 3 / 64 * 64 + 64)},
            {"num_hidden_layers", layers}, {"num_attention_heads", heads}, {"num_key_value_heads", kvh},
            {"head_dim", head_dim}, {"max_position_embeddings", num("context", 2048)},
            {"tie_word_embeddings", num("tied", 1) != 0}, {"rope_theta", static_cast<double>(num("theta", 1000000))}};
  std::string pattern = "LLLG";
  if (auto it = kv.find("pattern"); it != kv.end()) {
    pattern = it->second;
    kv.erase(it);
  }
  if (window > 0) {
    // Hybrid: pattern letters L (sliding, RoPE) / G (global, NoPE), repeated over the layers.
    j["sliding_window"] = window;
    json types = json::array();
    for (int64_t l = 0; l < layers; ++l) {
      const char t = pattern.empty() ? 'G' : pattern[static_cast<size_t>(l) % pattern.size()];
      if (t != 'L' && t != 'G') fail("--shape: pattern letters are L (sliding) and G (global), got '" + pattern + "'");
      types.push_back(t == 'L' ? "sliding_attention" : "full_attention");
    }
    j["layer_types"] = types;
  } else {
    j["sliding_window"] = nullptr;  // all global with RoPE (EXAONE-4.0-1.2B style)
  }
  if (!kv.empty())
    fail("--shape: unknown key '" + kv.begin()->first +
         "' (layers, hidden, heads, kv, head_dim, inter, vocab, window, pattern, context, tied, theta)");
  return j;
}

std::string progress_bar(double frac, int width = 24) {
  const int full = static_cast<int>(std::lround(std::clamp(frac, 0.0, 1.0) * width));
  return "[" + std::string(static_cast<size_t>(full), '#') + std::string(static_cast<size_t>(width - full), '.') + "]";
}

void cmd_train(TrainFlags& f, const train::DataParallel& dp) {
  if (f.threads > 0) {
    set_num_threads(f.threads);
  } else if (dp.distributed() && !std::getenv("EXAONE_THREADS")) {
    // Ranks on one machine share its cores.
    set_num_threads(std::max(1, num_threads() / train::DataParallel::launcher_local_size()));
  }
  if (f.matmul == "bf16") {
    if (!gemm_bf16_supported())
      fail("--matmul bf16: this CPU has no AVX512_BF16 (vdpbf16ps); use --matmul fp32");
    train::set_matmul_precision(GemmPrecision::BF16);
  } else if (f.matmul != "fp32") {
    fail("--matmul: expected fp32 or bf16, got '" + f.matmul + "'");
  }
  train::TrainOptions& o = f.opt;
  o.min_lr = f.min_lr >= 0 ? f.min_lr : o.lr / 10;
  o.warmup = f.warmup >= 0 ? f.warmup : o.steps / 20;

  // The model.
  std::unique_ptr<train::TrainableModel> model;
  const fs::path ckpt_dir = fs::path(f.out) / "checkpoint";
  if (!f.resume.empty()) {
    model = train::TrainableModel::load(f.resume);
  } else if (!f.init.empty()) {
    model = train::TrainableModel::load(f.init);
  } else if (!f.shape.empty()) {
    model = std::make_unique<train::TrainableModel>(parse_model_config(shape_config(f.shape, f.model), "--shape"));
    model->init_random(o.seed, f.init_std);
  } else {
    const std::string cfg_path = !f.config.empty() ? f.config : (fs::path(f.model) / "config.json").string();
    model = std::make_unique<train::TrainableModel>(parse_model_config(read_json_file(cfg_path), cfg_path));
    model->init_random(o.seed, f.init_std);
  }
  const ModelConfig& c = model->config();

  // The data.
  // The data: a corpus screened by `exaone comply scan` (verified against its manifest before it is
  // read), or, with --unscreened only, a text or token file.
  std::vector<int32_t> data;
  train::GovernedCorpus corpus;
  if (!f.tokens.empty()) {
    if (!f.unscreened)
      fail(f.tokens + ": raw token ids cannot be checked against a compliance manifest; train on a folder written "
           "by `exaone comply scan` (--data DIR), or pass --unscreened (recorded in training_data.json)");
    data = read_token_file(f.tokens);
  } else if (!f.data.empty()) {
    corpus = train::open_training_data(f.data, f.unscreened, "--data");
    Tokenizer tok = load_tokenizer(f.model);
    for (size_t i = 0; i < corpus.documents.size(); ++i) {
      // Documents are joined by a blank line, so no word runs across a document boundary.
      for (int id : tok.encode(i + 1 < corpus.documents.size() ? corpus.documents[i] + "\n\n" : corpus.documents[i]))
        data.push_back(id);
      corpus.documents[i].clear();
      corpus.documents[i].shrink_to_fit();
    }
  } else {
    fail("train: give --data COMPLY_OUTPUT_DIR (or, with --unscreened, a text file), or --tokens INT32_FILE "
         "with --unscreened");
  }

  train::Trainer tr(*model, std::move(data), o, dp, static_cast<size_t>(std::max<int64_t>(1, f.dp_bucket)));
  if (f.bench) return run_bench(tr, *model, o, f.matmul);
  std::vector<train::CurvePoint> curve;
  if (!f.resume.empty()) {
    tr.resume(f.resume);  // every rank reads the checkpoint (a shared folder across machines)
    if (dp.root()) curve = read_curve((fs::path(f.out) / "loss.csv").string(), tr.next_step());
  }
  // Only rank 0 writes files and logs; the other ranks hold the same model.
  const bool root = dp.root();
  if (root) fs::create_directories(f.out);

  const double peak = (f.peak_gflops > 0 ? f.peak_gflops : num_threads() * 2.5 * 32.0) * 1e9;  // AVX2: 32 FLOP/cycle
  const double flops_tok = model->flops_per_token(o.seq);
  if (root)
    std::fprintf(stderr,
               "train: %s, %lld layers, hidden %lld, %.2fM parameters%s; %lld steps x %lld tokens "
               "(batch %lld x seq %lld x accum %lld); %d process%s x %d threads; peak %.0f GFLOP/s%s\n",
               family_name(c.family), static_cast<long long>(c.n_layers), static_cast<long long>(c.hidden),
               model->parameter_count() / 1e6, model->tied() ? " (tied)" : "", static_cast<long long>(o.steps),
               static_cast<long long>(o.batch * o.seq * o.accum), static_cast<long long>(o.batch),
               static_cast<long long>(o.seq), static_cast<long long>(o.accum), dp.size(), dp.size() > 1 ? "es" : "",
               num_threads(), peak / 1e9,
               f.peak_gflops > 0 ? "" : " (estimated; --peak-gflops sets it)");
  if (root && dp.size() > static_cast<int>(o.accum))
    std::fprintf(stderr, "train: warning: %d processes but --accum %lld: %d ranks idle each step (micro-batches are "
                 "shared between ranks; use --accum >= processes)\n", dp.size(), static_cast<long long>(o.accum),
                 dp.size() - static_cast<int>(o.accum));
  const bool tty = root && isatty(2);
  double comm = 0, total = 0;
  while (tr.next_step() < o.steps) {
    const train::StepStats st = tr.step();
    const double tok_s = static_cast<double>(st.tokens) / st.seconds;
    curve.push_back({st.step, st.loss, st.lr, st.grad_norm, tok_s});
    const double mfu = flops_tok * tok_s / peak;
    comm += st.comm_seconds;
    total += st.seconds;
    if (root)
      std::fprintf(stderr, "%s%s step %lld/%lld loss %.4f lr %.3g gnorm %.3g %.0f tok/s MFU %.1f%%%s",
                 tty ? "\r" : "", progress_bar(static_cast<double>(st.step + 1) / o.steps).c_str(),
                 static_cast<long long>(st.step + 1), static_cast<long long>(o.steps), st.loss, st.lr, st.grad_norm,
                 tok_s, 100 * mfu, tty ? "   " : "\n");
    const bool stop = f.stop_after > 0 && tr.next_step() >= f.stop_after;
    const bool last = tr.next_step() == o.steps || stop;
    if (root && (last || (f.save_every > 0 && tr.next_step() % f.save_every == 0))) {
      tr.save(ckpt_dir.string());
      train::write_loss_csv((fs::path(f.out) / "loss.csv").string(), curve);
    }
    if (stop) break;
  }
  if (tty) std::fprintf(stderr, "\n");
  if (dp.distributed() && root)
    std::fprintf(stderr, "train: %d processes; gradient exchange %.1f%% of the step time on rank 0\n", dp.size(),
                 total > 0 ? 100 * comm / total : 0.0);
  if (!root) return;
  train::save_model(*model, f.out);
  train::write_training_data_record(f.out, !f.data.empty() ? f.data : f.tokens, corpus);
  // The tokenizer goes with the model when it produced the data or the architecture came from it.
  if (!f.data.empty() || (f.config.empty() && f.shape.empty() && f.init.empty() && f.resume.empty())) copy_tokenizer_files(f.model, f.out);
  train::write_loss_csv((fs::path(f.out) / "loss.csv").string(), curve);
  train::write_loss_png((fs::path(f.out) / "loss.png").string(), curve);
  std::printf("saved %s (model.safetensors, config.json, loss.csv, loss.png; checkpoint/ for --resume)\n",
              f.out.c_str());
}

}  // namespace

void register_train_commands(CLI::App& app) {
  static TrainFlags f;
  auto* cmd = app.add_subcommand("train", "pretrain an EXAONE 4.0 / 3.x model on a text or token file (float32, CPU)");
  add_model_option(cmd, f.model);
  cmd->add_option("--config", f.config, "config.json of the architecture to train from scratch (default: the model's)");
  cmd->add_option("--shape", f.shape,
                  "EXAONE 4.0 shape instead of --config, e.g. layers=8,hidden=512,heads=8,kv=2,inter=1408,window=256"
                  ",pattern=LLLG (keys: layers hidden heads kv head_dim inter vocab window pattern context tied theta; "
                  "vocab defaults to the tokenizer's, window 0 = all global with RoPE)");
  cmd->add_option("--init", f.init, "start from this checkpoint's weights instead of random ones");
  cmd->add_option("--resume", f.resume, "continue a run exactly from its OUT/checkpoint folder");
  cmd->add_option("--data", f.data,
                  "training corpus: a folder written by `exaone comply scan` (verified before reading), or with "
                  "--unscreened a text file; tokenized with the model's tokenizer");
  cmd->add_option("--tokens", f.tokens, "training tokens: int32 little-endian ids (needs --unscreened)");
  cmd->add_flag("--unscreened", f.unscreened,
                "train on data that did not pass `exaone comply scan` (recorded in training_data.json)");
  cmd->add_option("-o,--out", f.out, "output folder: model, loss.csv, loss.png, checkpoint/ (default train-out)");
  cmd->add_option("--steps", f.opt.steps, "optimizer steps (default 100)");
  cmd->add_option("--batch", f.opt.batch, "sequences per micro-batch (default 4)");
  cmd->add_option("--seq", f.opt.seq, "tokens per sequence (default 128)");
  cmd->add_option("--accum", f.opt.accum, "micro-batches per step (gradient accumulation, default 1)");
  cmd->add_option("--lr", f.opt.lr, "peak learning rate (default 3e-4)");
  cmd->add_option("--min-lr", f.min_lr, "final learning rate of the cosine (default lr/10)");
  cmd->add_option("--warmup", f.warmup, "linear warmup steps (default steps/20)");
  cmd->add_option("--weight-decay", f.opt.adamw.weight_decay, "AdamW decoupled weight decay on matrices (default 0.1)");
  cmd->add_option("--beta1", f.opt.adamw.beta1, "AdamW beta1 (default 0.9)");
  cmd->add_option("--beta2", f.opt.adamw.beta2, "AdamW beta2 (default 0.95)");
  cmd->add_option("--clip", f.opt.clip, "global gradient-norm clip (default 1; 0 = off)");
  cmd->add_option("--seed", f.opt.seed, "seed of initialisation and batch sampling (default 1234)");
  cmd->add_option("--init-std", f.init_std, "std of the random initialisation (default 0.02)");
  cmd->add_option("--save-every", f.save_every, "write checkpoint/ every N steps (default: at the end only)");
  cmd->add_option("--stop-after", f.stop_after, "end after this many steps, as an interrupted run would (testing --resume)")
      ->group("");
  cmd->add_option("-t,--threads", f.threads, "threads (default: all CPUs, or $EXAONE_THREADS)");
  cmd->add_option("--peak-gflops", f.peak_gflops, "machine peak for the MFU figure (default: estimated)");
  cmd->add_option("--matmul", f.matmul,
                  "precision of the matmuls: fp32 (default) or bf16 (bfloat16 products with float32 accumulation and "
                  "master weights; needs AVX512_BF16)");
  cmd->add_flag("--bench", f.bench,
                "time --steps steps after a warm-up and print tokens/s, MFU against the FP32 and BF16 peaks probed "
                "in the same run, and peak memory per parameter; writes nothing");
  cmd->add_option("--dp-bucket", f.dp_bucket, "gradient elements per MPI message (data parallel; default 4194304)")
      ->group("");
  cmd->callback([] {
    train::DataParallel& dp = train::DataParallel::world();
    try {
      cmd_train(f, dp);
    } catch (const std::exception& e) {
      if (!dp.distributed()) throw;
      // The other ranks may be waiting in an exchange: end the whole job.
      std::fprintf(stderr, "error (rank %d): %s\n", dp.rank(), e.what());
      dp.abort(2);
    }
    dp.barrier();  // rank 0 has written everything before any rank exits
  });
}

}  // namespace exaone::cli

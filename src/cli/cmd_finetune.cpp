// `exaone finetune`: supervised fine-tuning on chat JSONL through the model's own chat format, loss
// on assistant tokens only; full fine-tuning, or LoRA (--lora-rank) on a float or GGUF (QLoRA-style)
// base. Thin: the data, loop, adapters and checkpoints live in src/train/.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/cli.h"
#include "loaders/lora_adapter.h"
#include "runtime/model_files.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/finetune.h"
#include "train/governed_data.h"
#include "train/lora.h"
#include "train/model.h"
#include "train/plot.h"
#include "train/sft_data.h"
#include "util/error.h"
#include "util/parallel.h"

namespace exaone::cli {

namespace {

namespace fs = std::filesystem;

struct FinetuneFlags {
  std::string model, data, out = "finetune-out";
  bool unscreened = false;
  train::TrainOptions opt;
  int64_t steps = 0;      // 0: from --epochs
  double epochs = 1;
  double lr = -1, min_lr = -1;
  int64_t warmup = -1;
  bool skip_long = false;
  int threads = 0;
  // LoRA: on when lora_rank > 0.
  int64_t lora_rank = 0;
  double lora_alpha = -1;   // default 2 x rank
  double lora_dropout = 0.05;
  std::string lora_targets;  // comma-separated short names; empty = every attention and MLP linear layer
  bool rslora = false, merge = false;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b <= s.size()) {
    size_t e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    std::string item = s.substr(b, e - b);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    b = e + 1;
  }
  return out;
}

// The name recorded as base_model_name_or_path: the base's folder (or file) name, never a path of
// this machine.
std::string base_name(const std::string& model) {
  fs::path p = fs::path(model).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string n = p.filename().string();
  if (n.empty() || n == "." || n == "..") n = fs::absolute(p).lexically_normal().filename().string();
  return n;
}

void cmd_finetune(FinetuneFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  if (f.data.empty()) fail("finetune: give --data CHAT.jsonl (or a folder written by `exaone comply scan`)");
  const bool lora = f.lora_rank > 0;
  if (f.lora_rank < 0) fail("finetune: --lora-rank must be positive (0 = full fine-tuning)");
  if (!lora && (f.lora_alpha >= 0 || !f.lora_targets.empty() || f.rslora || f.merge))
    fail("finetune: --lora-alpha, --lora-targets, --rslora and --merge need --lora-rank R");
  if (is_gguf_path(f.model) && !lora)
    fail("finetune: full fine-tuning needs a Hugging Face folder (" + f.model +
         " is GGUF, kept quantized); train a LoRA adapter on it with --lora-rank R");
  if (is_gguf_path(f.model) && f.merge)
    fail("finetune: --merge needs a float base (a Hugging Face folder): " + f.model +
         " is GGUF and merging would re-quantize its weights; apply the adapter at inference with --lora, or "
         "train on the float checkpoint to merge");
  std::unique_ptr<train::TrainableModel> model = train::TrainableModel::load(f.model);
  const Tokenizer tok = load_tokenizer(f.model);
  const chat::Format format = load_chat_format(f.model);

  // The data: a screened corpus (its documents are JSONL text) or, with --unscreened, a JSONL file.
  train::GovernedCorpus corpus = train::open_training_data(f.data, f.unscreened, "--data");
  std::string text;
  for (std::string& d : corpus.documents) {
    text += d;
    text += "\n";
    d.clear();
    d.shrink_to_fit();
  }
  train::SftStats stats;
  train::SftOptions so;
  so.seq = f.opt.seq;
  so.skip_long = f.skip_long;
  std::vector<train::SftRow> rows =
      train::sft_rows_from_jsonl(text, fs::path(f.data).filename().string(), format, tok, so, stats);
  std::fprintf(stderr, "finetune data (%s format): %s\n", chat::format_name(format), train::describe(stats).c_str());

  train::TrainOptions& o = f.opt;
  o.steps = f.steps > 0 ? f.steps : train::steps_for_epochs(f.epochs, static_cast<int64_t>(rows.size()), o.batch, o.accum);
  o.lr = f.lr > 0 ? f.lr : (lora ? 2e-4 : 2e-5);
  o.min_lr = f.min_lr >= 0 ? f.min_lr : o.lr / 10;
  o.warmup = f.warmup >= 0 ? f.warmup : o.steps / 20;
  std::unique_ptr<train::Lora> adapters;
  if (lora) {
    train::LoraConfig lc;
    lc.rank = f.lora_rank;
    lc.alpha = f.lora_alpha > 0 ? f.lora_alpha : 2.0 * static_cast<double>(f.lora_rank);
    lc.dropout = f.lora_dropout;
    lc.rslora = f.rslora;
    lc.targets = train::resolve_lora_targets(*model, split_commas(f.lora_targets), "--lora-targets");
    lc.seed = o.seed;
    if (!(lc.dropout >= 0 && lc.dropout < 1)) fail("finetune: --lora-dropout must be in [0, 1)");
    adapters = std::make_unique<train::Lora>(*model, lc);
  }
  train::SftTrainer tr(*model, lora ? adapters->params() : model->params(), std::move(rows), o, 0);

  if (lora) {
    std::string targets;
    for (const std::string& t : adapters->config().targets) targets += (targets.empty() ? "" : ",") + t;
    std::fprintf(stderr, "finetune: LoRA rank %lld alpha %g%s dropout %g on %s: %.3fM trained parameters (%.2f%% of %.2fM, base frozen%s)\n",
                 static_cast<long long>(f.lora_rank), adapters->config().alpha, f.rslora ? " (rsLoRA)" : "",
                 f.lora_dropout, targets.c_str(), adapters->parameter_count() / 1e6,
                 100.0 * static_cast<double>(adapters->parameter_count()) / static_cast<double>(model->parameter_count()),
                 model->parameter_count() / 1e6, model->has_stored_weights() ? ", kept quantized as stored in the GGUF" : "");
  }
  std::fprintf(stderr, "finetune: %.2fM parameters (%s); %lld steps of batch %lld x accum %lld rows, seq <= %lld; %d threads\n",
               model->parameter_count() / 1e6, lora ? "LoRA adapters trained" : "all trained",
               static_cast<long long>(o.steps), static_cast<long long>(o.batch),
               static_cast<long long>(o.accum), static_cast<long long>(o.seq), num_threads());
  fs::create_directories(f.out);
  std::vector<train::CurvePoint> curve;
  const bool tty = isatty(2);
  while (tr.next_step() < o.steps) {
    const train::StepStats st = tr.step();
    const double tok_s = static_cast<double>(st.tokens) / st.seconds;
    curve.push_back({st.step, st.loss, st.lr, st.grad_norm, tok_s});
    std::fprintf(stderr, "%sstep %lld/%lld loss %.4f lr %.3g gnorm %.3g %.0f tok/s%s", tty ? "\r" : "",
                 static_cast<long long>(st.step + 1), static_cast<long long>(o.steps), st.loss, st.lr, st.grad_norm,
                 tok_s, tty ? "   " : "\n");
  }
  if (tty) std::fprintf(stderr, "\n");
  train::write_training_data_record(f.out, f.data, corpus);
  train::write_loss_csv((fs::path(f.out) / "loss.csv").string(), curve);
  train::write_loss_png((fs::path(f.out) / "loss.png").string(), curve);
  if (!lora) {
    train::save_model(*model, f.out);
    train::copy_model_side_files(f.model, f.out);
    std::printf("saved %s (model.safetensors, config.json, tokenizer and chat template, loss.csv, loss.png)\n",
                f.out.c_str());
    return;
  }
  // The adapter twice: PEFT's folder (peft.PeftModel.from_pretrained, `exaone run --lora OUT`) and
  // llama.cpp's GGUF LoRA (llama-cli --lora, `--lora OUT/adapter.gguf`).
  const LoraAdapter ad = adapters->adapter(base_name(f.model));
  write_peft_adapter(ad, f.out);
  const char* arch = model->config().family == Family::Exaone4 ? "exaone4" : "exaone";
  write_gguf_lora_adapter(ad, arch, (fs::path(f.out) / "adapter.gguf").string());
  std::printf("saved %s (adapter_config.json + adapter_model.safetensors for PEFT, adapter.gguf for llama.cpp, "
              "loss.csv, loss.png)\n",
              f.out.c_str());
  if (f.merge) {
    const std::string merged = (fs::path(f.out) / "merged").string();
    adapters->merge_into_base();
    train::save_model(*model, merged);
    train::copy_model_side_files(f.model, merged);
    std::printf("saved %s (the base with the adapter merged: W + scale·B·A, float32)\n", merged.c_str());
  }
}

}  // namespace

void register_finetune_commands(CLI::App& app) {
  static FinetuneFlags f;
  auto* cmd = app.add_subcommand("finetune",
                                 "supervised fine-tuning on chat JSONL through the model's chat format (loss on "
                                 "assistant tokens only; float32, CPU)");
  add_model_option(cmd, f.model);
  cmd->add_option("--data", f.data,
                  "chat JSONL, one {\"messages\": [...], \"tools\": [...], \"enable_thinking\": bool} per line: a folder "
                  "written by `exaone comply scan`, or with --unscreened a .jsonl file");
  cmd->add_flag("--unscreened", f.unscreened,
                "train on data that did not pass `exaone comply scan` (recorded in training_data.json)");
  cmd->add_option("-o,--out", f.out,
                  "output folder: an HF model folder (with --lora-rank: a PEFT adapter folder and adapter.gguf) plus "
                  "loss.csv, loss.png, training_data.json (default finetune-out)");
  cmd->add_option("--steps", f.steps, "optimizer steps (default: from --epochs)");
  cmd->add_option("--epochs", f.epochs, "passes over the rows when --steps is not given (default 1)");
  cmd->add_option("--batch", f.opt.batch, "rows (conversations) per micro-batch (default 4)");
  cmd->add_option("--seq", f.opt.seq, "most tokens per row; longer rows are cut (default 128)");
  cmd->add_flag("--skip-long", f.skip_long, "drop rows longer than --seq instead of cutting them");
  cmd->add_option("--accum", f.opt.accum, "micro-batches per step (gradient accumulation, default 1)");
  cmd->add_option("--lr", f.lr, "peak learning rate (default 2e-5; 2e-4 with --lora-rank)");
  cmd->add_option("--min-lr", f.min_lr, "final learning rate of the cosine (default lr/10)");
  cmd->add_option("--warmup", f.warmup, "linear warmup steps (default steps/20)");
  cmd->add_option("--weight-decay", f.opt.adamw.weight_decay, "AdamW decoupled weight decay on matrices (default 0.1)");
  cmd->add_option("--beta1", f.opt.adamw.beta1, "AdamW beta1 (default 0.9)");
  cmd->add_option("--beta2", f.opt.adamw.beta2, "AdamW beta2 (default 0.95)");
  cmd->add_option("--clip", f.opt.clip, "global gradient-norm clip (default 1; 0 = off)");
  cmd->add_option("--seed", f.opt.seed, "seed of the row order (and LoRA initialisation) (default 1234)");
  cmd->add_option("-t,--threads", f.threads, "threads (default: all CPUs, or $EXAONE_THREADS)");
  cmd->add_option("--lora-rank", f.lora_rank,
                  "train a LoRA adapter of this rank instead of every weight (base frozen; required for a .gguf "
                  "base, which stays quantized); 0 = full fine-tuning (default)");
  cmd->add_option("--lora-alpha", f.lora_alpha, "LoRA alpha: the update is scaled by alpha/rank (default 2 x rank)");
  cmd->add_option("--lora-dropout", f.lora_dropout, "dropout on the adapters' input while training (default 0.05)");
  cmd->add_option("--lora-targets", f.lora_targets,
                  "comma-separated linear layers to adapt: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj "
                  "(EXAONE 3.x: also out_proj,c_fc_0,c_fc_1,c_proj) (default: all of them)");
  cmd->add_flag("--rslora", f.rslora, "rank-stabilised LoRA: scale alpha/sqrt(rank) (peft use_rslora)");
  cmd->add_flag("--merge", f.merge,
                "also write OUT/merged: the float base with the adapter merged in (Hugging Face folder; not for "
                "GGUF bases)");
  cmd->callback([] { cmd_finetune(f); });
}

}  // namespace exaone::cli

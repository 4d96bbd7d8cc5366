// `exaone finetune`: supervised fine-tuning on chat JSONL through the model's own chat format, loss
// on assistant tokens only. Thin: the data, loop and checkpoints live in src/train/.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/cli.h"
#include "runtime/model_files.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/finetune.h"
#include "train/governed_data.h"
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
};

void cmd_finetune(FinetuneFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  if (f.data.empty()) fail("finetune: give --data CHAT.jsonl (or a folder written by `exaone comply scan`)");
  if (is_gguf_path(f.model)) fail("finetune: full fine-tuning needs a Hugging Face folder (" + f.model + " is GGUF)");
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
  o.lr = f.lr > 0 ? f.lr : 2e-5;
  o.min_lr = f.min_lr >= 0 ? f.min_lr : o.lr / 10;
  o.warmup = f.warmup >= 0 ? f.warmup : o.steps / 20;
  train::SftTrainer tr(*model, model->params(), std::move(rows), o, 0);

  std::fprintf(stderr, "finetune: %.2fM parameters (all trained); %lld steps of batch %lld x accum %lld rows, seq <= %lld; %d threads\n",
               model->parameter_count() / 1e6, static_cast<long long>(o.steps), static_cast<long long>(o.batch),
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
  train::save_model(*model, f.out);
  train::copy_model_side_files(f.model, f.out);
  train::write_training_data_record(f.out, f.data, corpus);
  train::write_loss_csv((fs::path(f.out) / "loss.csv").string(), curve);
  train::write_loss_png((fs::path(f.out) / "loss.png").string(), curve);
  std::printf("saved %s (model.safetensors, config.json, tokenizer and chat template, loss.csv, loss.png)\n",
              f.out.c_str());
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
  cmd->add_option("-o,--out", f.out, "output folder: an HF model folder plus loss.csv, loss.png (default finetune-out)");
  cmd->add_option("--steps", f.steps, "optimizer steps (default: from --epochs)");
  cmd->add_option("--epochs", f.epochs, "passes over the rows when --steps is not given (default 1)");
  cmd->add_option("--batch", f.opt.batch, "rows (conversations) per micro-batch (default 4)");
  cmd->add_option("--seq", f.opt.seq, "most tokens per row; longer rows are cut (default 128)");
  cmd->add_flag("--skip-long", f.skip_long, "drop rows longer than --seq instead of cutting them");
  cmd->add_option("--accum", f.opt.accum, "micro-batches per step (gradient accumulation, default 1)");
  cmd->add_option("--lr", f.lr, "peak learning rate (default 2e-5)");
  cmd->add_option("--min-lr", f.min_lr, "final learning rate of the cosine (default lr/10)");
  cmd->add_option("--warmup", f.warmup, "linear warmup steps (default steps/20)");
  cmd->add_option("--weight-decay", f.opt.adamw.weight_decay, "AdamW decoupled weight decay on matrices (default 0.1)");
  cmd->add_option("--beta1", f.opt.adamw.beta1, "AdamW beta1 (default 0.9)");
  cmd->add_option("--beta2", f.opt.adamw.beta2, "AdamW beta2 (default 0.95)");
  cmd->add_option("--clip", f.opt.clip, "global gradient-norm clip (default 1; 0 = off)");
  cmd->add_option("--seed", f.opt.seed, "seed of the row order (and LoRA initialisation) (default 1234)");
  cmd->add_option("-t,--threads", f.threads, "threads (default: all CPUs, or $EXAONE_THREADS)");
  cmd->callback([] { cmd_finetune(f); });
}

}  // namespace exaone::cli

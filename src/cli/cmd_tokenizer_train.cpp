// `exaone tokenizer-train`: a byte-level BPE tokenizer with EXAONE 4.0's declaration and special tokens, learned
// from text files (src/tokenizer/bpe_trainer.h).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/cli.h"
#include "tokenizer/bpe_trainer.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone::cli {

void register_tokenizer_train_commands(CLI::App& app) {
  struct Args {
    std::vector<std::string> data;
    size_t vocab_size = 0;
    std::string out, special_from;
    uint64_t min_frequency = 0;
    bool force = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "tokenizer-train", "learn a byte-level BPE tokenizer (EXAONE 4.0 pre-tokenizer and special tokens) from text");
  cmd->add_option("--data", args->data, "text files (UTF-8), read line by line")->required()->expected(1, -1);
  cmd->add_option("--vocab-size", args->vocab_size,
                  "size of the whole tokenizer: special tokens + 256 byte symbols + merges + added tags")
      ->required();
  cmd->add_option("-o,--out", args->out, "output folder (tokenizer.json, tokenizer_config.json, chat_template.jinja)")
      ->required();
  cmd->add_option("--min-frequency", args->min_frequency, "never merge a pair seen fewer times (default 0)");
  auto* from = cmd->add_option("--special-tokens-from", args->special_from,
                               "take special/added tokens, tokenizer_config.json and the chat template from this "
                               "model folder (default: EXAONE 4.0's tokens; the template of the default model)");
  cmd->add_flag("--force", args->force, "overwrite an existing tokenizer.json in the output folder");
  cmd->callback([args, from] {
    namespace fs = std::filesystem;
    using clock = std::chrono::steady_clock;
    auto secs = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };

    TokenizerTrainSpec spec;
    if (from->count()) {
      spec = train_spec_from_model(args->special_from);
    } else {
      spec = exaone4_train_spec();
      // The chat template makes the folder chat-ready once a model sits next to it.
      std::string tpl = path_join(default_model_path(), "chat_template.jinja");
      if (fs::exists(tpl)) spec.chat_template = read_text_file(tpl);
    }
    size_t fixed = spec.special_tokens.size() + 256 + spec.added_tokens.size();
    if (args->vocab_size < fixed)
      fail("--vocab-size " + std::to_string(args->vocab_size) + ": smaller than the 256 byte symbols + " +
           std::to_string(spec.special_tokens.size()) + " special + " + std::to_string(spec.added_tokens.size()) +
           " added tokens (" + std::to_string(fixed) + ")");
    for (const auto& f : args->data) {
      std::error_code ec;
      if (!fs::exists(f, ec)) fail("--data " + f + ": no such file");
      if (!fs::is_regular_file(f, ec)) fail("--data " + f + ": not a regular file");
    }
    if (!args->force && fs::exists(fs::path(args->out) / "tokenizer.json"))
      fail("-o " + args->out + ": already holds a tokenizer.json (use --force to overwrite)");

    auto t0 = clock::now();
    BpeWordCounts corpus;
    for (const auto& f : args->data) corpus.add_file(f);
    double t_read = secs(t0);
    if (corpus.counts().empty()) fail("--data: the corpus is empty (no text in the given files)");
    if (corpus.invalid_utf8_lines())
      std::fprintf(stderr, "warning: %llu lines were not valid UTF-8; bad bytes were read as U+FFFD\n",
                   static_cast<unsigned long long>(corpus.invalid_utf8_lines()));
    std::fprintf(stderr, "read %zu file(s): %.2f MB, %llu words (%zu distinct) in %.2f s\n", args->data.size(),
                 corpus.bytes() / 1e6, static_cast<unsigned long long>(corpus.words()), corpus.counts().size(),
                 t_read);

    auto t1 = clock::now();
    BpeTrainOptions opt;
    opt.vocab_size = args->vocab_size;
    opt.min_frequency = args->min_frequency;
    TrainedBpe bpe = train_bpe(corpus, spec, opt);
    double t_train = secs(t1);
    std::fprintf(stderr, "learned %zu merges in %.2f s; tokenizer size %zu", bpe.merges.size(), t_train, bpe.size());
    if (bpe.size() < args->vocab_size)
      std::fprintf(stderr, " (< %zu: no pair left%s)", args->vocab_size,
                   args->min_frequency > 1 ? " at --min-frequency" : " in the corpus");
    std::fprintf(stderr, "\n");
    write_tokenizer_folder(bpe, spec, args->out);
    std::fprintf(stderr, "wrote %s (tokenizer.json, tokenizer_config.json%s) in %.2f s total\n", args->out.c_str(),
                 spec.chat_template.empty() ? "" : ", chat_template.jinja", secs(t0));
  });
}

}  // namespace exaone::cli

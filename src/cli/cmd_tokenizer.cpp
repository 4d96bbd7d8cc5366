// `exaone tokenize` and `exaone detokenize`: the stable testing interface of the tokenizer.
#include <iostream>
#include <memory>

#include "cli/cli.h"
#include "runtime/model_files.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone::cli {

void register_tokenizer_commands(CLI::App& app) {
  struct TokenizeArgs {
    std::string model, text, file;
    bool bos = false;
  };
  auto targs = std::make_shared<TokenizeArgs>();
  CLI::App* tok = app.add_subcommand("tokenize", "print the token ids of a text as a JSON array");
  add_model_option(tok, targs->model);
  auto* text_opt = tok->add_option("--text", targs->text, "text to tokenize");
  auto* file_opt = tok->add_option("--file", targs->file, "file whose bytes are tokenized as they are");
  text_opt->excludes(file_opt);
  tok->add_flag("--bos", targs->bos, "prepend the model's BOS token");
  tok->callback([targs, text_opt, file_opt] {
    if (text_opt->count() == 0 && file_opt->count() == 0) fail("tokenize: give --text or --file");
    Tokenizer tokenizer = load_tokenizer(targs->model);
    std::string text = file_opt->count() ? read_text_file(targs->file) : targs->text;
    std::vector<int> ids = tokenizer.encode(text, targs->bos);
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ",";
      out += std::to_string(ids[i]);
    }
    std::cout << out << "]\n";
  });

  struct DetokenizeArgs {
    std::string model, ids;
    bool skip_special = false;
  };
  auto dargs = std::make_shared<DetokenizeArgs>();
  CLI::App* detok = app.add_subcommand("detokenize", "print the text of comma-separated token ids");
  add_model_option(detok, dargs->model);
  detok->add_option("--ids", dargs->ids, "token ids, e.g. 1,2,3")->required();
  detok->add_flag("--skip-special", dargs->skip_special, "drop special tokens");
  detok->callback([dargs] {
    std::vector<int> ids = parse_id_list(dargs->ids);
    Tokenizer tokenizer = load_tokenizer(dargs->model);
    std::cout << tokenizer.decode(ids, dargs->skip_special);
    std::cout.flush();
  });
}

}  // namespace exaone::cli

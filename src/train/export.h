// `exaone export`: a model exaone.cpp loads (HF folder, training output or checkpoint, GGUF file,
// quantized included) as a Hugging Face folder that transformers loads, or as GGUF, with a model card.
//
// HF folder: config.json in the spelling transformers reads (EXAONE 4.0 hybrid attention as a
// `layer_types` list), model.safetensors (float32, or bf16/f16; quantized GGUF weights dequantized),
// tokenizer.json + tokenizer_config.json with the chat template (+ chat_template.jinja),
// generation_config.json and README.md (the card). GGUF: the same writer as `exaone convert`.
//
// The card states what is known and says so where something is not: data sources and licences (from
// the comply scan folders given with --data, checked against the manifest digest the trainer
// recorded in training_data.json), the compliance manifest digest, parameter count, size, the final
// training loss (loss.csv) and limits.
#pragma once
#include <string>
#include <vector>

namespace exaone::train {

struct ExportOptions {
  std::string format = "hf";           // hf | gguf
  std::string dtype;                   // hf: f32 (default) | bf16 | f16; gguf: a convert type (default f16)
  bool force = false;                  // write into a non-empty folder (replacing only the files written)
  std::string tokenizer;               // tokenizer folder when the model has none next to it
  bool no_tokenizer = false;           // weights only (the card says so)
  std::vector<std::string> data_dirs;  // `exaone comply scan` folders of the training data
  std::string name;                    // model name in the card (default: the output folder's name)
};

struct ExportResult {
  std::vector<std::string> files;  // written, relative to the output folder
  std::vector<std::string> notes;  // for the user (also in the card where they matter)
};

// Error (exit 2) naming the file or field for bad input; refuses a non-empty `out` unless force.
ExportResult export_model(const std::string& model, const std::string& out, const ExportOptions& opt);

}  // namespace exaone::train

// Opening the tokenizer and chat format of a model given as a Hugging Face folder or a .gguf file
// (llama.cpp's tokenizer.ggml.* / tokenizer.chat_template metadata).
#pragma once
#include <string>

#include "chat/chat_template.h"
#include "loaders/gguf.h"
#include "tokenizer/tokenizer.h"

namespace exaone {

// True for a path naming a GGUF file (by extension, or by its magic bytes for other names).
bool is_gguf_path(const std::string& path);

// TokenizerParts from GGUF metadata, validated: tokenizer.ggml.model must be "gpt2"; tokens a
// non-empty string array; token_type (optional) integers 1..6, one per token; merges "left right"
// whose two sides and their concatenation are tokens; bos/eos/padding ids inside the vocabulary.
// Errors name the file, the key and the index.
TokenizerParts gguf_tokenizer_parts(const GgufFile& f);

// Tokenizer of a model folder / tokenizer.json (Tokenizer::from_model_path) or of a .gguf file.
Tokenizer load_tokenizer(const std::string& path);

// Chat template text: the folder's (chat::load_chat_template) or the GGUF's tokenizer.chat_template;
// "" when there is none.
std::string load_chat_template_text(const std::string& path);

// Chat format of a folder (chat::detect_model_format) or of a GGUF file (its template and
// general.architecture: exaone4, exaone, exaone-moe).
chat::Format load_chat_format(const std::string& path);

}  // namespace exaone

#include "train/export.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "chat/chat_template.h"
#include "comply/pipeline.h"
#include "comply/sha256.h"
#include "kernels/quant_ext.h"
#include "loaders/gguf.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "runtime/model_files.h"
#include "tokenizer/bpe_trainer.h"
#include "train/checkpoint.h"
#include "train/governed_data.h"
#include "util/error.h"
#include "util/half.h"
#include "util/json_file.h"
#include "util/mapped_file.h"

namespace exaone::train {

namespace {

namespace fs = std::filesystem;

enum class SourceKind { HfFolder, TrainingOutput, TrainingCheckpoint, Gguf };

const char* kind_text(SourceKind k) {
  switch (k) {
    case SourceKind::HfFolder: return "a Hugging Face folder";
    case SourceKind::TrainingOutput: return "an exaone.cpp training output folder";
    case SourceKind::TrainingCheckpoint: return "an exaone.cpp training checkpoint";
    case SourceKind::Gguf: return "a GGUF file";
  }
  return "?";
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) fail(path.string() + ": cannot write");
}

std::string fixed(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string human_bytes(uint64_t n) {
  const double v = static_cast<double>(n);
  if (v >= 1e9) return fixed(v / 1e9, 2) + " GB";
  if (v >= 1e6) return fixed(v / 1e6, 1) + " MB";
  if (v >= 1e3) return fixed(v / 1e3, 1) + " kB";
  return std::to_string(n) + " bytes";
}

// The tensors an HF EXAONE folder holds (EXAONE 4.0 `model.*`, EXAONE 3.x `transformer.*`, the
// head); GGUF-only extras (rope_freqs) and MTP layers stay out.
bool hf_tensor(const std::string& name) {
  return name.rfind("model.", 0) == 0 || name.rfind("transformer.", 0) == 0 || name.rfind("lm_head.", 0) == 0;
}

// Streams one safetensors file: the header is computed first, then each tensor is converted and
// written in turn, so a large (or dequantized) model is never held whole in memory.
void write_safetensors(const fs::path& path, const std::vector<const TensorView*>& ts, const std::string& dtype) {
  const size_t esize = dtype == "F32" ? 4 : 2;
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  size_t off = 0;
  for (const TensorView* t : ts) {
    const size_t n = static_cast<size_t>(t->numel()) * esize;
    header[t->name] = {{"dtype", dtype}, {"shape", t->shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';  // data 8-byte aligned, as the reference writer pads
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
  if (!f) fail(tmp.string() + ": cannot create");
  const uint64_t hl = h.size();
  f.write(reinterpret_cast<const char*>(&hl), 8);
  f.write(h.data(), static_cast<std::streamsize>(h.size()));
  std::vector<float> row;
  std::vector<uint16_t> half;
  for (const TensorView* t : ts) {
    const int64_t rows = t->rows(), cols = t->cols();
    const size_t row_bytes = dtype_bytes_for(t->dtype, cols);
    row.resize(static_cast<size_t>(cols));
    half.resize(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* src = t->data + static_cast<size_t>(r) * row_bytes;
      if (t->dtype == DType::F32) std::memcpy(row.data(), src, static_cast<size_t>(cols) * 4);
      else dequantize_row_any(t->dtype, src, row.data(), cols);
      if (esize == 4) {
        f.write(reinterpret_cast<const char*>(row.data()), static_cast<std::streamsize>(cols * 4));
      } else {
        for (int64_t c = 0; c < cols; ++c)
          half[static_cast<size_t>(c)] = dtype == "BF16" ? f32_to_bf16(row[static_cast<size_t>(c)])
                                                         : f32_to_f16(row[static_cast<size_t>(c)]);
        f.write(reinterpret_cast<const char*>(half.data()), static_cast<std::streamsize>(cols * 2));
      }
    }
  }
  f.close();
  if (!f) fail(tmp.string() + ": write failed");
  fs::rename(tmp, path);
}

struct LossSummary {
  bool found = false;
  int64_t steps = 0;
  double last = 0, mean_tail = 0;
  int tail = 0;
};

LossSummary read_loss_csv(const fs::path& path) {
  LossSummary s;
  std::ifstream f(path);
  if (!f) return s;
  std::string line;
  std::getline(f, line);  // header
  std::vector<std::pair<long long, double>> rows;
  while (std::getline(f, line)) {
    long long step = 0;
    double loss = 0;
    if (std::sscanf(line.c_str(), "%lld,%lf", &step, &loss) == 2) rows.push_back({step, loss});
  }
  if (rows.empty()) return s;
  s.found = true;
  s.steps = rows.back().first + 1;
  s.last = rows.back().second;
  s.tail = static_cast<int>(std::min<size_t>(20, rows.size()));
  for (size_t i = rows.size() - static_cast<size_t>(s.tail); i < rows.size(); ++i) s.mean_tail += rows[i].second;
  s.mean_tail /= s.tail;
  return s;
}

// Sources and licences of a comply scan folder: documents per (source, licence), after the
// manifest verified.
struct DataSources {
  std::string name, manifest_sha256;
  size_t files_verified = 0, documents = 0;
  std::map<std::pair<std::string, std::string>, size_t> by_source;
};

DataSources read_data_sources(const std::string& dir) {
  if (!is_comply_output(dir)) fail("--data " + dir + ": not a folder written by `exaone comply scan` (no manifest.sha256)");
  DataSources d;
  try {
    d.files_verified = comply::verify_manifest(dir);
  } catch (const Error& e) {
    fail(std::string("--data ") + dir + ": " + e.what());
  }
  d.manifest_sha256 = comply::sha256_file_hex((fs::path(dir) / "manifest.sha256").string());
  d.name = fs::path(dir).lexically_normal().filename().string();
  if (d.name.empty()) d.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  std::vector<fs::path> shards;
  if (fs::is_directory(fs::path(dir) / "data"))
    for (const auto& e : fs::directory_iterator(fs::path(dir) / "data"))
      if (e.path().extension() == ".jsonl") shards.push_back(e.path());
  std::sort(shards.begin(), shards.end());
  for (const auto& p : shards) {
    std::ifstream in(p, std::ios::binary);
    std::string line;
    size_t no = 0;
    while (std::getline(in, line)) {
      ++no;
      if (line.empty()) continue;
      json j;
      try {
        j = json::parse(line);
      } catch (const std::exception&) {
        fail(p.string() + ":" + std::to_string(no) + ": not JSON");
      }
      auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "?"; };
      ++d.by_source[{str("source"), str("license")}];
      ++d.documents;
    }
  }
  return d;
}

// tokenizer.json + tokenizer_config.json from GGUF metadata (tokenizer.ggml.*), through the writer
// `exaone tokenizer-train` uses: byte-level BPE with the pre-tokenizer the GGUF declares.
void write_tokenizer_from_gguf(const GgufFile& g, const fs::path& out, std::vector<std::string>& files) {
  const TokenizerParts parts = gguf_tokenizer_parts(g);
  TrainedBpe bpe;
  size_t n = parts.tokens.size();
  // Padding rows llama.cpp's converter adds up to vocab_size ("[PAD<id>]", type unused) are no tokens.
  while (n > 0 && !parts.token_types.empty() && parts.token_types[n - 1] == 5) --n;
  for (size_t i = 0; i < n; ++i) {
    const int type = parts.token_types.empty() ? 1 : parts.token_types[i];
    bpe.vocab.push_back(parts.tokens[i]);
    if (type == 3 || type == 4) {
      AddedTokenSpec t;
      t.content = parts.tokens[i];
      t.id = static_cast<int>(i);
      t.special = type == 3;
      bpe.added_tokens.push_back(t);
    }
  }
  for (const std::string& m : parts.merges) {
    const auto sp = m.find(' ');
    if (sp == std::string::npos) fail(g.path + ": tokenizer.ggml.merges entry '" + m + "' is not 'left right'");
    bpe.merges.push_back({m.substr(0, sp), m.substr(sp + 1)});
  }
  std::string text = bpe_tokenizer_json(bpe);
  if (parts.pre == "exaone") {
    // EXAONE 3.x: digits one by one, then byte-level (its tokenizer.json declaration).
    const std::string bl = "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                           "\"trim_offsets\": true, \"use_regex\": true}";
    const auto at = text.find(bl);
    if (at == std::string::npos) fail("export: unexpected tokenizer.json layout");
    text.replace(at, bl.size(),
                 "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", "
                 "\"individual_digits\": true}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                 "\"trim_offsets\": true, \"use_regex\": true}]}");
  } else if (parts.pre == "exaone-moe") {
    fail(g.path + ": tokenizer.ggml.pre 'exaone-moe' belongs to K-EXAONE, which export does not cover");
  }
  write_text(out / "tokenizer.json", text);
  files.push_back("tokenizer.json");
  json cfg = exaone4_train_spec().tokenizer_config;
  auto name_of = [&](std::optional<int> id) -> json {
    if (!id || *id < 0 || static_cast<size_t>(*id) >= parts.tokens.size()) return nullptr;
    return parts.tokens[static_cast<size_t>(*id)];
  };
  if (parts.bos_id) cfg["bos_token"] = name_of(parts.bos_id);
  if (parts.eos_id) cfg["eos_token"] = name_of(parts.eos_id);
  if (auto pad = g.opt_int("tokenizer.ggml.padding_token_id")) cfg["pad_token"] = name_of(static_cast<int>(*pad));
  if (const GgufValue* t = g.find("tokenizer.chat_template"); t && t->value.is_string()) {
    cfg["chat_template"] = t->value.get<std::string>();
    write_text(out / "chat_template.jinja", t->value.get<std::string>());
    files.push_back("chat_template.jinja");
  }
  write_text(out / "tokenizer_config.json", cfg.dump(2) + "\n");
  files.push_back("tokenizer_config.json");
}

// Tokenizer files of an HF folder, with the chat template written into tokenizer_config.json as
// well as chat_template.jinja (older transformers read only the former).
void copy_tokenizer(const fs::path& from, const fs::path& out, std::vector<std::string>& files) {
  if (!fs::exists(from / "tokenizer.json"))
    fail(from.string() + ": no tokenizer.json (export writes HF fast tokenizers only)");
  fs::copy_file(from / "tokenizer.json", out / "tokenizer.json", fs::copy_options::overwrite_existing);
  files.push_back("tokenizer.json");
  json cfg = fs::exists(from / "tokenizer_config.json")
                 ? read_json_file((from / "tokenizer_config.json").string())
                 : exaone4_train_spec().tokenizer_config;
  const std::string tmpl = chat::load_chat_template(from.string());
  if (!tmpl.empty()) {
    cfg["chat_template"] = tmpl;
    write_text(out / "chat_template.jinja", tmpl);
    files.push_back("chat_template.jinja");
  }
  write_text(out / "tokenizer_config.json", cfg.dump(2) + "\n");
  files.push_back("tokenizer_config.json");
  if (fs::exists(from / "special_tokens_map.json")) {
    fs::copy_file(from / "special_tokens_map.json", out / "special_tokens_map.json",
                  fs::copy_options::overwrite_existing);
    files.push_back("special_tokens_map.json");
  }
}

std::string architecture_line(const ModelConfig& c) {
  std::ostringstream s;
  const bool v4 = c.family == Family::Exaone4;
  s << (v4 ? "EXAONE 4.0 (`Exaone4ForCausalLM`)" : "EXAONE 3.x (`ExaoneForCausalLM`)") << ": " << c.n_layers
    << " layers, hidden " << c.hidden << ", " << c.n_heads << " query / " << c.n_kv_heads << " KV heads of "
    << c.head_dim << ", intermediate " << c.intermediate << ", vocabulary " << c.vocab_size << ", "
    << (c.tie_embeddings ? "tied" : "untied") << " embeddings";
  if (v4) {
    if (c.sliding_window > 0) {
      std::string pat;
      for (int64_t l = 0; l < c.n_layers; ++l) pat += c.layer_sliding[static_cast<size_t>(l)] ? 'S' : 'G';
      s << "; hybrid attention " << pat << " (S: sliding window " << c.sliding_window
        << " with RoPE, G: global without RoPE), post-norm with q/k norms";
    } else {
      s << "; global attention with RoPE on every layer, post-norm with q/k norms";
    }
  } else {
    s << "; pre-norm, RoPE on every layer";
  }
  return s.str();
}

}  // namespace

ExportResult export_model(const std::string& model_path, const std::string& out_str, const ExportOptions& opt) {
  ExportResult res;
  if (opt.format != "hf" && opt.format != "gguf") fail("--format: expected hf or gguf, got '" + opt.format + "'");
  std::string dtype = opt.dtype;
  if (opt.format == "hf") {
    if (dtype.empty()) dtype = "f32";
    if (dtype != "f32" && dtype != "bf16" && dtype != "f16")
      fail("--dtype: expected f32, bf16 or f16 for an HF folder, got '" + dtype + "'");
  }
  const fs::path out(out_str);
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec)) fail(out_str + ": exists and is not a folder");
  if (fs::is_directory(out, ec) && !fs::is_empty(out, ec) && !opt.force)
    fail(out_str + ": folder is not empty (use --force to write into it; only the exported files are replaced)");
  if (!fs::exists(model_path, ec)) fail(model_path + ": no such file or folder (-m)");

  // What the source is, and where its companions (tokenizer, training_data.json, loss.csv, card) live.
  const bool gguf = !fs::is_directory(model_path, ec) && is_gguf_path(model_path);
  SourceKind kind = SourceKind::HfFolder;
  std::vector<fs::path> meta;  // folders searched, nearest first
  if (gguf) {
    kind = SourceKind::Gguf;
  } else {
    const fs::path dir = fs::is_directory(model_path, ec) ? fs::path(model_path) : fs::path(model_path).parent_path();
    meta.push_back(dir);
    if (fs::exists(dir / "trainer_state.json")) {
      kind = SourceKind::TrainingCheckpoint;
      meta.push_back(fs::absolute(dir).lexically_normal().parent_path());  // OUT/checkpoint -> OUT
    } else if (fs::exists(dir / "loss.csv") || fs::exists(dir / "training_data.json")) {
      kind = SourceKind::TrainingOutput;
    }
  }
  auto find_meta = [&](const char* name) -> fs::path {
    for (const fs::path& d : meta)
      if (fs::exists(d / name)) return d / name;
    return {};
  };

  auto model = load_model(model_path);
  const ModelConfig& c = model->config();
  if (c.family == Family::ExaoneMoe || c.n_experts > 0)
    fail(model_path + ": K-EXAONE (mixture of experts) is not covered by export; dense EXAONE 4.0 / 3.x only");
  const std::string source_types = model->weight_dtype_summary();
  const bool quantized = source_types.find('Q') != std::string::npos || source_types.find("IQ") != std::string::npos;

  // Tokenizer source (decided before anything is written).
  fs::path tok_dir;
  if (!opt.tokenizer.empty()) {
    tok_dir = fs::is_directory(opt.tokenizer, ec) ? fs::path(opt.tokenizer) : fs::path(opt.tokenizer).parent_path();
    if (!fs::exists(tok_dir / "tokenizer.json")) fail("--tokenizer " + opt.tokenizer + ": no tokenizer.json there");
  } else if (!gguf) {
    if (fs::path p = find_meta("tokenizer.json"); !p.empty()) tok_dir = p.parent_path();
  }
  std::optional<GgufFile> gguf_file;
  std::unique_ptr<MappedFile> gguf_map;
  if (gguf) {
    gguf_map = std::make_unique<MappedFile>(model_path);
    gguf_file = parse_gguf(gguf_map->data(), gguf_map->size(), model_path);
  }
  const bool gguf_has_tokenizer = gguf_file && gguf_file->find("tokenizer.ggml.tokens");
  if (tok_dir.empty() && !gguf_has_tokenizer && !opt.no_tokenizer)
    fail(model_path + ": no tokenizer found (tokenizer.json next to the model" +
         std::string(kind == SourceKind::TrainingCheckpoint ? " or in its training output folder" : "") +
         (gguf ? " or tokenizer.ggml.* metadata" : "") +
         "); give --tokenizer DIR, or --no-tokenizer for the weights alone");

  fs::create_directories(out, ec);
  if (ec) fail(out_str + ": cannot create the folder (" + ec.message() + ")");

  // ---- weights ----
  int64_t n_params = 0;
  uint64_t model_bytes = 0;
  std::string weights_file;
  std::vector<std::string> skipped;
  std::vector<const TensorView*> tensors;
  for (const auto& [name, t] : model->weights().tensors()) {
    if (hf_tensor(name)) {
      tensors.push_back(&t);
      n_params += t.numel();
    } else {
      skipped.push_back(name);
    }
  }
  if (opt.format == "hf") {
    weights_file = "model.safetensors";
    const std::string st = dtype == "f32" ? "F32" : dtype == "bf16" ? "BF16" : "F16";
    write_safetensors(out / weights_file, tensors, st);
    json cfg = hf_config_json(c);
    cfg["torch_dtype"] = dtype == "f32" ? "float32" : dtype == "bf16" ? "bfloat16" : "float16";
    write_text(out / "config.json", cfg.dump(2) + "\n");
    res.files.push_back("config.json");
    res.files.push_back(weights_file);
    if (!skipped.empty()) {
      std::string s;
      for (const auto& n : skipped) s += (s.empty() ? "" : ", ") + n;
      res.notes.push_back("tensors without a Hugging Face counterpart left out: " + s);
    }
  } else {
    // The writer `exaone convert` uses (models/gguf_model.h), with the tokenizer found above.
    const GgufOutType t = parse_gguf_out_type(dtype.empty() ? "f16" : dtype);
    dtype = gguf_out_type_name(t);
    std::string lower = dtype;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    weights_file = "model-" + lower + ".gguf";
    GgufWriter w = build_gguf(c, model->weights(), t);
    if (gguf_has_tokenizer) copy_tokenizer_metadata(w, *gguf_file);
    else if (!tok_dir.empty()) add_hf_tokenizer_metadata(w, tok_dir.string(), c.vocab_size, &res.notes);
    w.write((out / weights_file).string());
    res.files.push_back(weights_file);
    if (quantized) res.notes.push_back("re-quantising already quantised weights compounds their error");
  }
  model_bytes = fs::file_size(out / weights_file);

  // ---- tokenizer, chat template, generation config ----
  if (opt.format == "hf") {
    if (!tok_dir.empty()) copy_tokenizer(tok_dir, out, res.files);
    else if (gguf_has_tokenizer) write_tokenizer_from_gguf(*gguf_file, out, res.files);
    json gen;
    if (fs::path p = !tok_dir.empty() && fs::exists(tok_dir / "generation_config.json")
                         ? tok_dir / "generation_config.json"
                         : find_meta("generation_config.json");
        !p.empty()) {
      gen = read_json_file(p.string());
    } else {
      gen = {{"_from_model_config", true}};
      if (c.bos_id >= 0) gen["bos_token_id"] = c.bos_id;
      if (!c.eos_ids.empty()) gen["eos_token_id"] = c.eos_ids.size() == 1 ? json(c.eos_ids[0]) : json(c.eos_ids);
      if (c.pad_id >= 0) gen["pad_token_id"] = c.pad_id;
    }
    write_text(out / "generation_config.json", gen.dump(2) + "\n");
    res.files.push_back("generation_config.json");
  }

  // ---- the card ----
  const std::string name = !opt.name.empty() ? opt.name : fs::absolute(out).lexically_normal().filename().string();
  const std::string source_name = fs::path(model_path).lexically_normal().filename().string().empty()
                                      ? fs::path(model_path).lexically_normal().parent_path().filename().string()
                                      : fs::path(model_path).lexically_normal().filename().string();
  std::ostringstream md;
  md << "# " << name << "\n\n";
  md << "Exported by `exaone export` (exaone.cpp) from `" << source_name << "`, " << kind_text(kind)
     << " with " << source_types << " weights, as "
     << (opt.format == "hf" ? "a Hugging Face folder (" + dtype + " safetensors)" : "GGUF (" + dtype + ")") << ".\n\n";

  md << "## Model\n\n* " << architecture_line(c) << ".\n";
  md << "* " << n_params << " parameters (" << fixed(static_cast<double>(n_params) / 1e6, 2) << "M); `"
     << weights_file << "` is " << human_bytes(model_bytes) << ".\n";
  if (quantized)
    md << "* The source weights were quantized (" << source_types << "); they were dequantized"
       << (opt.format == "hf" ? "" : " and re-quantized")
       << ", so they carry the quantization error: this is not the original full-precision model.\n";
  if (opt.format == "hf" && dtype != "f32")
    md << "* Stored as " << dtype << ": each weight rounded from float32 (round to nearest even).\n";
  if (tok_dir.empty() && !gguf_has_tokenizer)
    md << "* **No tokenizer**: exported with `--no-tokenizer`; the folder needs one before it can be used on text.\n";
  md << "\n";

  const fs::path source_card = kind == SourceKind::Gguf ? fs::path() : find_meta("README.md");
  const std::string see_card = source_card.empty() ? "" : " The source model's own card is appended below.";
  md << "## Training data\n\n";
  const fs::path td_path = find_meta("training_data.json");
  json td;
  if (!td_path.empty()) {
    td = read_json_file(td_path.string());
    const bool screened = td.value("screened", false);
    md << "Recorded by exaone.cpp's trainer (`training_data.json`):\n\n";
    md << "* data folder: `" << td.value("data", std::string("?")) << "`, "
       << (screened ? "screened by `exaone comply scan` and verified against its manifest before training"
                    : "**not screened** (trained with `--unscreened`)")
       << "\n";
    if (screened && td.contains("manifest_sha256") && td["manifest_sha256"].is_string())
      md << "* compliance manifest digest (SHA-256 of `manifest.sha256`): `" << td["manifest_sha256"].get<std::string>()
         << "`\n";
    if (td.contains("documents")) md << "* documents: " << td["documents"].dump() << "\n";
    if (td.contains("files_verified")) md << "* files verified: " << td["files_verified"].dump() << "\n";
    if (td.contains("note") && td["note"].is_string()) md << "* note: " << td["note"].get<std::string>() << "\n";
    md << "\n";
  } else if (kind == SourceKind::Gguf) {
    md << "**Unknown.** The model came as a GGUF file, which records no training data; exaone.cpp cannot say what "
          "it was trained on or under which licences. See the card of whoever published it.\n\n";
  } else {
    md << "**Unknown.** The model folder has no `training_data.json` (exaone.cpp's trainers write one), so this "
          "export cannot say what the model was trained on or under which licences. See the original publisher's "
          "card.\n\n";
  }
  if (!opt.data_dirs.empty()) {
    md << "### Sources and licences\n\n";
    for (const std::string& dir : opt.data_dirs) {
      const DataSources d = read_data_sources(dir);
      md << "`" << d.name << "`: " << d.documents << " documents, manifest verified (" << d.files_verified
         << " files), digest `" << d.manifest_sha256 << "`";
      if (td.is_object() && td.contains("manifest_sha256") && td["manifest_sha256"].is_string()) {
        if (td["manifest_sha256"].get<std::string>() == d.manifest_sha256) {
          md << " — the corpus this model was trained on";
        } else {
          md << " — **not** the digest recorded at training";
          res.notes.push_back("--data " + dir + ": manifest digest differs from training_data.json's");
        }
      }
      md << ".\n\n| source | licence | documents |\n|---|---|---|\n";
      for (const auto& [key, n] : d.by_source) md << "| " << key.first << " | " << key.second << " | " << n << " |\n";
      md << "\n";
    }
  } else if (!td_path.empty()) {
    md << "The sources and their licences are listed in the scan's shards, not in the model folder; export with "
          "`--data SCAN_DIR` to list them here." << see_card << "\n\n";
  }

  md << "## Training\n\n";
  const fs::path loss_path = find_meta("loss.csv");
  const LossSummary loss = loss_path.empty() ? LossSummary{} : read_loss_csv(loss_path);
  if (loss.found) {
    md << "* " << loss.steps << " optimizer steps (`loss.csv`); final training loss " << fixed(loss.last, 4)
       << " (mean of the last " << loss.tail << " steps: " << fixed(loss.mean_tail, 4)
       << "; cross-entropy in nats per token on the training batches, not a held-out score).\n\n";
  } else {
    md << "**Unknown**: no `loss.csv` next to the model, so the training loss is not known to this export." << see_card
       << "\n\n";
  }

  md << "## Limits\n\n";
  md << "* The export reproduces the weights exaone.cpp loaded; it does not evaluate the model. Quality, "
        "safety and bias were not assessed by this export.\n";
  if (n_params < 100000000)
    md << "* A small model (" << fixed(static_cast<double>(n_params) / 1e6, 1)
       << "M parameters): expect fluent text only within what it was trained on, and errors outside it.\n";
  md << "* The licence of the weights is that of the source model and its training data; exporting does not "
        "change it.\n";
  md << "\n## Files\n\n";
  for (const std::string& f : res.files) md << "* `" << f << "`\n";
  md << "* `README.md` (this card)\n";
  if (!source_card.empty()) {
    std::ifstream f(source_card);
    std::stringstream ss;
    ss << f.rdbuf();
    md << "\n---\n\n## Card of the source model (as it came)\n\n" << ss.str();
    if (!ss.str().empty() && ss.str().back() != '\n') md << "\n";
  }
  write_text(out / "README.md", md.str());
  res.files.push_back("README.md");
  return res;
}

}  // namespace exaone::train

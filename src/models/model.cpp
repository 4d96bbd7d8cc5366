#include "models/model.h"

#include <filesystem>

#include "loaders/gguf.h"
#include "loaders/safetensors.h"
#include "models/gguf_model.h"
#include "models/family.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone {

namespace {

const std::vector<const FamilyInfo*>& families() {
  static const std::vector<const FamilyInfo*> all{&exaone4_family(), &exaone3_family(), &exaone_moe_family(),
                                                     &exaone4_5_family()};
  return all;
}

const FamilyInfo& pick_family(const json& j, const std::string& where) {
  if (!j.is_object()) fail(where + ": expected a JSON object");
  auto mt = opt_string(j, "model_type", where);
  std::vector<std::string> archs;
  if (auto a = j.find("architectures"); a != j.end() && a->is_array())
    for (const auto& e : *a)
      if (e.is_string()) archs.push_back(e.get<std::string>());
  for (const FamilyInfo* f : families()) {
    for (const auto& t : f->model_types)
      if (mt && *mt == t) return *f;
    for (const auto& a : f->architectures)
      for (const auto& b : archs)
        if (a == b) return *f;
  }
  std::string got = mt ? "model_type '" + *mt + "'" : "no model_type";
  if (!archs.empty()) got += ", architectures '" + archs.front() + "'";
  fail(where + ": unknown architecture (" + got +
       "); supported: exaone4 (EXAONE 4.0), exaone (EXAONE 3.x), exaone_moe (K-EXAONE), exaone4_5 (EXAONE 4.5)");
}

std::string config_dir(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return path;
  if (fs::is_regular_file(path, ec)) return fs::path(path).parent_path().string();
  fail(path + ": no such file or folder");
}

}  // namespace

void Model::forward_hidden(std::span<const SequenceChunk>, std::vector<float>&, std::vector<float>&) {
  fail("this model does not return hidden states");
}

std::unique_ptr<KVCache> Model::new_mtp_cache(int64_t, DType) const {
  fail("this model has no multi-token-prediction (MTP) layer");
}

void Model::mtp_forward(std::span<const MtpChunk>, std::vector<float>&, std::vector<float>&) {
  fail("this model has no multi-token-prediction (MTP) layer");
}

MatrixRef bind_lm_head(const ModelConfig& c, const WeightStore& s, const MatrixRef& embed) {
  if (c.tie_embeddings) return embed;
  const TensorView* head = s.find("lm_head.weight");
  if (!head) return embed;  // absent head: tied, as HF and llama.cpp do
  return matrix(s.require("lm_head.weight", {c.vocab_size, c.hidden}));
}

std::unique_ptr<MtpWeights> bind_mtp_head(const ModelConfig& c, const WeightStore& s) {
  if (!s.find("mtp.fc.weight")) return nullptr;
  const int64_t H = c.hidden;
  auto m = std::make_unique<MtpWeights>();
  m->fc = matrix(s.require("mtp.fc.weight", {H, 2 * H}));
  m->embed_norm = widen_vector(s.require("mtp.pre_fc_norm_embedding.weight", {H}));
  m->hidden_norm = widen_vector(s.require("mtp.pre_fc_norm_hidden.weight", {H}));
  m->final_norm = widen_vector(s.require("mtp.norm.weight", {H}));
  return m;
}

ModelConfig parse_model_config(const json& j, const std::string& where) {
  ModelConfig c = pick_family(j, where).parse_config(j, where);
  c.validate(where);
  return c;
}

namespace {

struct CheckpointConfig {
  const FamilyInfo* family;
  ModelConfig config;
};

CheckpointConfig read_checkpoint_config(const std::string& path) {
  std::string dir = config_dir(path);
  if (dir.empty()) dir.assign(1, '.');  // a bare file name: its folder is the working directory
  const std::string cfg_path = path_join(dir, "config.json");
  if (!file_exists(cfg_path)) fail(cfg_path + ": missing (a Hugging Face checkpoint folder needs config.json)");
  json j = read_json_file(cfg_path);
  const FamilyInfo& fam = pick_family(j, cfg_path);
  ModelConfig c = fam.parse_config(j, cfg_path);
  read_generation_config(dir, c);
  c.validate(cfg_path);
  return {&fam, std::move(c)};
}

bool is_gguf_path(const std::string& path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
}

const FamilyInfo& family_of(Family f) {
  for (const FamilyInfo* fam : families())
    if (fam->family == f) return *fam;
  fail(std::string("no model family registered for ") + family_name(f));
}

}  // namespace

ModelConfig load_model_config(const std::string& path) {
  if (is_gguf_path(path)) {
    MappedFile m(path);
    ModelConfig c = gguf_model_config(parse_gguf(m.data(), m.size(), path));
    c.validate(path);
    return c;
  }
  return read_checkpoint_config(path).config;
}

std::unique_ptr<Model> load_model(const std::string& path) {
  if (is_gguf_path(path)) {
    // Config from the metadata, tensors under their HF names: the families bind them as usual.
    auto store = std::make_unique<WeightStore>();
    ModelConfig c = gguf_model_config(load_gguf_checkpoint(path, *store));
    c.validate(path);
    DecoderWeights w = family_of(c.family).bind_weights(c, *store);
    return std::make_unique<DecoderModel>(std::move(c), std::move(store), std::move(w));
  }
  CheckpointConfig cc = read_checkpoint_config(path);
  const FamilyInfo& fam = *cc.family;
  ModelConfig c = std::move(cc.config);
  auto store = std::make_unique<WeightStore>();
  load_safetensors_checkpoint(path, *store);
  if (fam.adapt_store) fam.adapt_store(c, *store);
  DecoderWeights w = fam.bind_weights(c, *store);
  return std::make_unique<DecoderModel>(std::move(c), std::move(store), std::move(w));
}

}  // namespace exaone

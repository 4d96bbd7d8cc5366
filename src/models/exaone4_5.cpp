// EXAONE 4.5 (Exaone4_5_ForConditionalGeneration, model_type exaone4_5), text-only. In transformers
// it wraps an EXAONE 4.0 language model (AutoModel of `text_config`, model_type exaone4, first
// released as exaone4_5_text) and a Qwen2.5-VL-style vision tower; with text input the vision
// tower is never run, so the language model alone gives the logits. The checkpoint keeps the
// language model under model.language_model.* (transformers 5), lm_head.weight at the top, the
// vision tower under model.visual.*, and an MTP layer under mtp.* (ignored by transformers; one
// EXAONE 4.0 post-norm layer, which self-speculative decoding drafts with: docs/architecture.md).
// Images are a later step: the vision tower is recognised and left unloaded.
#include "models/family.h"
#include "util/error.h"

namespace exaone {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

ModelConfig parse_exaone4_5(const json& j, const std::string& where) {
  auto tc = j.find("text_config");
  if (tc == j.end() || tc->is_null())
    fail(where + ": missing field 'text_config' (EXAONE 4.5 keeps its language model's config there)");
  if (!tc->is_object()) fail(where + ": field 'text_config': expected an object, got " + tc->type_name());
  const std::string tw = where + ": text_config";
  auto mt = opt_string(*tc, "model_type", tw);
  if (!mt) fail(where + ": missing field 'text_config.model_type' (exaone4 or exaone4_5_text)");
  if (*mt != "exaone4" && *mt != "exaone4_5_text")
    fail(where + ": field 'text_config.model_type': '" + *mt +
         "' is not an EXAONE 4.5 language model (exaone4, exaone4_5_text)");
  ModelConfig c = exaone4_family().parse_config(*tc, tw);
  c.model_type = opt_string(j, "model_type", where).value_or("exaone4_5");
  // The head is tied by the top-level flag (Exaone4_5_Config, default false), not text_config's.
  c.tie_embeddings = opt_bool(j, "tie_word_embeddings", where).value_or(false);
  if (c.source_dtype.empty())
    c.source_dtype = opt_string(j, "torch_dtype", where).value_or(opt_string(j, "dtype", where).value_or(""));
  auto vc = j.find("vision_config");
  c.vision_tower = vc != j.end() && !vc->is_null();
  return c;
}

// Language-model tensors to the EXAONE 4.0 names; vision tower dropped; mtp.* kept as it is.
void adapt_exaone4_5(ModelConfig& c, WeightStore& s) {
  bool vision = false;
  s.rename([&](const std::string& n) -> std::string {
    for (const char* v : {"model.visual.", "visual.", "model.vision_tower.", "vision_tower."})
      if (starts_with(n, v)) {
        vision = true;
        return "";
      }
    if (starts_with(n, "mtp.")) return n;
    for (const char* p : {"model.language_model.", "language_model.model."})
      if (starts_with(n, p)) return "model." + n.substr(std::string(p).size());
    if (n == "language_model.lm_head.weight") return "lm_head.weight";
    return n;  // lm_head.weight, and model.layers.* of a Qwen2-VL-style layout
  });
  c.vision_tower = c.vision_tower || vision;
}

// The language model as EXAONE 4.0, plus the MTP layer: SGLang's exaone4_5_mtp builds it as a
// one-layer Exaone4Model (fc over [norm(embedding) | norm(hidden)], an EXAONE 4.0 post-norm layer of
// the main layer 0's attention type, mtp.norm) with the main model's embedding and head. An
// mtp.embed_tokens or mtp.lm_head of its own, where a checkpoint carries them, is not read.
DecoderWeights bind_exaone4_5(const ModelConfig& c, const WeightStore& s) {
  DecoderWeights w = exaone4_family().bind_weights(c, s);
  w.mtp = bind_mtp_head(c, s);
  if (w.mtp) w.mtp->layer = bind_exaone4_layer(c, s, "mtp.layers.0.");
  return w;
}

}  // namespace

const FamilyInfo& exaone4_5_family() {
  static const FamilyInfo f{Family::Exaone4,
                            {"exaone4_5"},
                            {"Exaone4_5_ForConditionalGeneration"},
                            parse_exaone4_5,
                            bind_exaone4_5,
                            adapt_exaone4_5};
  return f;
}

}  // namespace exaone

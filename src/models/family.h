// One entry per model family. Adding a family = a new file defining its FamilyInfo plus one
// line in the list in model.cpp.
#pragma once
#include <string>
#include <vector>

#include "models/decoder.h"
#include "util/json_file.h"

namespace exaone {

struct FamilyInfo {
  Family family;
  std::vector<std::string> model_types;    // config.json "model_type"
  std::vector<std::string> architectures;  // config.json "architectures"
  // Parses the family's config.json spelling; `where` names the file for messages.
  ModelConfig (*parse_config)(const json& j, const std::string& where);
  // Finds and shape-checks every tensor the family needs.
  DecoderWeights (*bind_weights)(const ModelConfig& c, const WeightStore& s);
  // Optional: renames a Hugging Face checkpoint's tensors to the names bind_weights expects and
  // drops those it does not run (EXAONE 4.5's vision tower), noting them in `c`.
  void (*adapt_store)(ModelConfig& c, WeightStore& s) = nullptr;
};

const FamilyInfo& exaone4_family();
const FamilyInfo& exaone3_family();
const FamilyInfo& exaone_moe_family();
const FamilyInfo& exaone4_5_family();

// Output matrix: lm_head.weight unless tied or absent (then the embedding).
MatrixRef bind_lm_head(const ModelConfig& c, const WeightStore& s, const MatrixRef& embed);

// The parts of an MTP layer (mtp.*) that K-EXAONE and EXAONE 4.5 share: mtp.fc over [embedding |
// hidden], its two input norms and mtp.norm. Null when the checkpoint has no mtp.fc.weight; the
// family binds `layer` (mtp.layers.0.*) in its own layer layout.
std::unique_ptr<MtpWeights> bind_mtp_head(const ModelConfig& c, const WeightStore& s);

// EXAONE 4.0-style attention (q/k/v/o projections, per-head q/k norms) under `prefix`: EXAONE 4.0,
// K-EXAONE and their MTP layers.
void bind_exaone4_attention(const ModelConfig& c, const WeightStore& s, const std::string& prefix,
                            DecoderLayerWeights& L);

// One EXAONE 4.0 post-norm layer under `prefix` ("model.layers.3.", "mtp.layers.0.").
DecoderLayerWeights bind_exaone4_layer(const ModelConfig& c, const WeightStore& s, const std::string& prefix);

}  // namespace exaone

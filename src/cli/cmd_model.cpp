// Model commands: logits, info (and run/chat, which need the tokenizer and chat format).
#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "cli/generation_commands.h"
#include "kernels/cpu_features.h"
#include "kernels/kernel_paths.h"
#include "kernels/interleaved.h"
#include "models/lora.h"
#include "models/model.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone::cli {

namespace {

void cmd_logits(const std::string& model_path, const std::string& ids_text, bool all_positions,
                const std::vector<std::string>& lora) {
  std::vector<int> ids = parse_id_list(ids_text);
  auto model = load_model(model_path, parse_lora_specs(lora));
  for (const std::string& line : describe_loras(*model)) std::fprintf(stderr, "[%s]\n", line.c_str());
  const auto& c = model->config();
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] >= c.vocab_size)
      fail("--ids: token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
           " is out of range (vocab_size " + std::to_string(c.vocab_size) + ")");
  if (static_cast<int64_t>(ids.size()) > c.max_position)
    fail("--ids: " + std::to_string(ids.size()) + " tokens exceed the context length " + std::to_string(c.max_position));
  std::vector<int32_t> toks(ids.begin(), ids.end());
  auto cache = model->new_cache(static_cast<int64_t>(toks.size()));
  std::vector<float> logits;
  SequenceChunk chunk{toks, cache.get(), all_positions};
  model->forward({&chunk, 1}, logits);
  // Hand-written JSON: 9 significant digits round-trip a float32.
  std::string out = "{\"ids\": [";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  out += "], \"logits\": [";
  const int64_t rows = static_cast<int64_t>(logits.size()) / c.vocab_size;
  char buf[32];
  for (int64_t r = 0; r < rows; ++r) {
    out += r ? ", [" : "[";
    for (int64_t v = 0; v < c.vocab_size; ++v) {
      std::snprintf(buf, sizeof buf, "%s%.9g", v ? ", " : "", logits[r * c.vocab_size + v]);
      out += buf;
    }
    out += "]";
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", b, units[u]);
  return buf;
}

// What this CPU runs the kernels with (no model needed): its features and the int8 GEMV path of
// packed (interleaved) quantised weights, after EXAONE_KERNELS.
void cmd_info_cpu(bool as_json) {
  const std::string features = cpu_features().summary();
  const auto paths = kernel_paths();
  if (as_json) {
    json kernels = json::object();
    for (const auto& [op, path] : paths) kernels[op] = path;
    std::cout << json{{"cpu_features", features}, {"interleaved_int8", interleaved_gemv_name()}, {"kernels", kernels}}.dump(2)
              << "\n";
    return;
  }
  std::printf("%-20s %s\n", "cpu features", features.c_str());
  for (const auto& [op, path] : paths) std::printf("%-20s %s\n", op.c_str(), path.c_str());
}

void cmd_info(const std::string& model_path, int64_t context, bool as_json, DType kv_type,
              const std::vector<std::string>& lora) {
  auto model = load_model(model_path, parse_lora_specs(lora));
  json loras = json::array();
  for (const LoraApplied& l : model->loras())
    loras.push_back({{"path", l.source}, {"scale", l.scale}, {"matrices", l.matrices}, {"rank", l.rank}, {"alpha", l.alpha}});
  const ModelConfig& c = model->config();
  if (context <= 0) context = c.max_position;
  const size_t weights = model->weights().total_bytes();
  const size_t kv = KVCache::bytes_for_context(c, context, kv_type);
  json layers = json::array();
  for (int64_t l = 0; l < c.n_layers; ++l)
    layers.push_back({{"index", l}, {"attention", c.layer_sliding[l] ? "sliding" : "global"},
                      {"position", c.layer_rope[l] ? "rope" : "nope"}, {"mlp", c.is_moe_layer(l) ? "moe" : "dense"}});
  // MoE: parameters a token touches = all but the routed experts it does not choose.
  int64_t moe_layers = 0;
  for (int64_t l = 0; l < c.n_layers; ++l) moe_layers += c.is_moe_layer(l);
  const int64_t active_params =
      model->parameter_count() - moe_layers * (c.n_experts - c.n_experts_used) * 3 * c.hidden * c.moe_intermediate;
  json eos = json::array();
  for (auto e : c.eos_ids) eos.push_back(e);
  // EXAONE 4.5 runs as its EXAONE 4.0 language model; say what of the checkpoint was left out.
  const std::string arch_name = c.model_type == "exaone4_5" ? "EXAONE 4.5 (text)" : family_name(c.family);
  std::vector<std::string> unloaded;
  if (c.vision_tower) unloaded.push_back("vision tower present, not loaded (images are a later step)");
  json info = {{"architecture", arch_name},
               {"model_type", c.model_type},
               {"parameters", model->parameter_count()},
               {"weight_dtype", model->weight_dtype_summary()},
               {"hidden_size", c.hidden},
               {"layers", c.n_layers},
               {"heads", c.n_heads},
               {"kv_heads", c.n_kv_heads},
               {"head_dim", c.head_dim},
               {"intermediate_size", c.intermediate},
               {"vocab_size", c.vocab_size},
               {"max_position_embeddings", c.max_position},
               {"sliding_window", c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr)},
               {"rope", {{"type", c.rope.type}, {"theta", c.rope.theta}, {"factor", c.rope.factor}}},
               {"tied_embeddings", c.tie_embeddings},
               {"eos_token_ids", eos},
               {"not_loaded", unloaded},
               {"mtp", model->has_mtp() ? json{{"layers", 1},
                                               {"attention", c.mtp_sliding ? "sliding" : "global"},
                                               {"window", c.mtp_sliding ? json(c.mtp_window) : json(nullptr)},
                                               {"rope", c.mtp_rope}}
                                         : json(nullptr)},
               {"lora", loras},
               {"layer_layout", layers},
               {"experts", c.n_experts > 0 ? json{{"count", c.n_experts},
                                                  {"active", c.n_experts_used},
                                                  {"shared", c.n_shared_experts},
                                                  {"groups", c.n_group},
                                                  {"groups_active", c.topk_group},
                                                  {"expert_ffn", c.moe_intermediate},
                                                  {"moe_layers", moe_layers},
                                                  {"norm_topk_prob", c.norm_topk_prob},
                                                  {"routed_scaling_factor", c.routed_scaling},
                                                  {"active_parameters", active_params}}
                                            : json(nullptr)},
               {"memory",
                {{"context", context},
                 {"weights_bytes", weights},
                 {"kv_cache_bytes", kv},
                 {"kv_cache_type", dtype_name(kv_type)},
                 {"total_bytes", weights + kv}}}};
  if (as_json) {
    std::cout << info.dump(2) << "\n";
    return;
  }
  std::cout << "architecture     " << arch_name << " (" << c.model_type << ")\n";
  for (const auto& u : unloaded) std::cout << "note             " << u << "\n";
  for (const auto& l : describe_loras(*model)) std::cout << "lora             " << l.substr(5) << " (applied unmerged)\n";
  std::cout
            << "parameters       " << model->parameter_count() << "\n"
            << "weights          " << model->weight_dtype_summary() << ", " << human_bytes(double(weights)) << "\n"
            << "shape            hidden " << c.hidden << ", layers " << c.n_layers << ", heads " << c.n_heads << "/"
            << c.n_kv_heads << " kv, head_dim " << c.head_dim << ", ffn " << c.intermediate << ", vocab "
            << c.vocab_size << "\n"
            << "context          " << c.max_position << " positions";
  if (c.sliding_window > 0) std::cout << ", sliding window " << c.sliding_window;
  if (c.n_experts > 0)
    std::cout << "\nexperts          " << c.n_experts << " (" << c.n_experts_used << " active, " << c.n_shared_experts
              << " shared), groups " << c.n_group << " (" << c.topk_group << " active), expert ffn "
              << c.moe_intermediate << ", " << moe_layers << " MoE layers, active parameters " << active_params;
  if (model->has_mtp())
    std::cout << "\nmtp              1 layer (" << (c.mtp_sliding ? "sliding, window " + std::to_string(c.mtp_window)
                                                               : std::string("global"))
              << (c.mtp_rope ? ", rope" : ", nope") << "): drafts for --spec mtp";
  std::cout << "\nrope             " << c.rope.type << ", theta " << c.rope.theta;
  if (c.rope.type != "default") std::cout << ", factor " << c.rope.factor;
  std::cout << "\nlayers          ";
  for (int64_t l = 0; l < c.n_layers; ++l)
    std::cout << " " << l << ":" << (c.layer_sliding[l] ? "sliding" : "global") << "/"
              << (c.layer_rope[l] ? "rope" : "nope") << (c.is_moe_layer(l) ? "/moe" : "");
  std::cout << "\nmemory           weights " << human_bytes(double(weights)) << " + KV cache "
            << human_bytes(double(kv)) << " (" << dtype_name(kv_type) << ", " << context << " positions) = "
            << human_bytes(double(weights + kv)) << "\n";
}

}  // namespace

void register_model_commands(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand("logits", "print the logits of a token sequence as JSON (no BOS added)");
    static std::string model, ids;
    static bool all = false;
    static std::vector<std::string> lora;
    add_model_option(cmd, model);
    cmd->add_option("--ids", ids, "comma-separated token ids")->required();
    cmd->add_flag("--all-positions", all, "logits for every position, not only the last");
    cmd->add_option("--lora", lora, kLoraOptionHelp);
    cmd->callback([] { cmd_logits(model, ids, all, lora); });
  }
  {
    auto* cmd = app.add_subcommand("info", "architecture, layer layout, parameters and memory of a model");
    static std::string model;
    static int64_t context = 0;
    static bool as_json = false;
    static std::string kv_type = "f32";
    add_model_option(cmd, model);
    cmd->add_option("--kv-type", kv_type, "KV cache type for the memory estimate: f32, f16, bf16, q8_0");
    cmd->add_option("-c,--ctx", context, "context length for the memory estimate (default: the model's)");
    static bool cpu = false;
    static std::vector<std::string> lora;
    cmd->add_option("--lora", lora, kLoraOptionHelp);
    cmd->add_flag("--json", as_json, "machine-readable output");
    cmd->add_flag("--cpu", cpu, "the CPU's features and the kernel path the int8 GEMVs take (no model read)");
    cmd->callback([] {
      if (cpu) return cmd_info_cpu(as_json);
      cmd_info(model, context, as_json, parse_kv_type(kv_type), lora);
    });
  }
  register_generation_commands(app);
}

}  // namespace exaone::cli

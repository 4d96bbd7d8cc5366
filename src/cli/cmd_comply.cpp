// `exaone comply ...`: the data-compliance pipeline (scan a corpus, verify a scan's digests,
// detect personal data in a piece of text).
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "cli/cli.h"
#include "comply/pipeline.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone::cli {

namespace {
std::string load_key(const std::string& key_file) {
  std::string key;
  if (!key_file.empty()) {
    key = read_text_file(key_file);
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    if (key.empty()) fail("--key-file: " + key_file + " is empty");
  } else if (const char* env = std::getenv("EXAONE_COMPLY_KEY")) {
    key = env;
  }
  return key;
}
}  // namespace

void register_comply_commands(CLI::App& app) {
  auto* comply = app.add_subcommand("comply", "data compliance: personal data, licences, duplicates");
  comply->require_subcommand(1);

  // ---- scan
  auto* scan = comply->add_subcommand("scan", "scan a corpus and write cleaned shards, manifest and report");
  struct ScanArgs {
    comply::ScanOptions o;
    std::string action = "report", key_file;
    bool no_exact = false, no_near = false;
    int drop_threshold = -1;
    double shard_mb = 256;
  };
  auto a = std::make_shared<ScanArgs>();
  scan->add_option("--in", a->o.input, "JSONL file, text file or folder (cards: source.json/.yaml in folders)")->required();
  scan->add_option("--out", a->o.out_dir, "output folder (must be empty unless --force or --resume)")->required();
  scan->add_option("--policy", a->o.policy_path, "licence/PII policy (JSON or YAML); default: built-in");
  scan->add_option("--cards", a->o.card_paths, "source card files or folders of cards");
  scan->add_option("--action", a->action, "report | mask | pseudonymize | drop");
  scan->add_option("--key-file", a->key_file, "HMAC key for pseudonymize (else $EXAONE_COMPLY_KEY)");
  scan->add_flag("--force", a->o.force, "replace the outputs of an earlier scan in --out");
  scan->add_flag("--resume", a->o.resume, "continue an interrupted scan in --out");
  scan->add_option("--near-threshold", a->o.dedup.threshold, "MinHash Jaccard threshold for near duplicates (0.8)");
  scan->add_flag("--no-exact-dedup", a->no_exact, "do not drop exact duplicates");
  scan->add_flag("--no-near-dedup", a->no_near, "do not look for near duplicates");
  scan->add_flag("--drop-near-duplicates", a->o.drop_near_duplicates, "drop near duplicates instead of only reporting them");
  scan->add_option("--drop-threshold", a->drop_threshold, "with --action drop: drop documents with more findings than this");
  scan->add_option("--shard-mb", a->shard_mb, "output shard size in MiB (256)");
  scan->add_option("--threads", a->o.threads, "worker threads (default: all cores)");
  scan->callback([a] {
    comply::ScanOptions o = a->o;
    o.action = comply::parse_action(a->action);
    o.key = load_key(a->key_file);
    o.dedup.exact = !a->no_exact;
    o.dedup.near = !a->no_near;
    if (a->drop_threshold >= 0) o.drop_threshold = a->drop_threshold;
    if (a->shard_mb <= 0) fail("--shard-mb: must be positive");
    o.shard_bytes = static_cast<size_t>(a->shard_mb * 1024 * 1024);
    auto s = comply::scan(o);
    json j = {{"documents", s.documents}, {"kept", s.kept},         {"quarantined", s.quarantined},
              {"excluded", s.excluded},   {"dropped", s.dropped},   {"duplicates", s.duplicates},
              {"errors", s.errors},       {"bytes", s.bytes},       {"seconds", s.seconds},
              {"complete", s.complete},   {"out", o.out_dir}};
    std::cout << j.dump() << "\n";
  });

  // ---- verify
  auto* verify = comply->add_subcommand("verify", "check a scan's manifest.sha256 before training reads it");
  auto dir = std::make_shared<std::string>();
  verify->add_option("dir", *dir, "output folder of `comply scan`")->required();
  verify->callback([dir] {
    size_t n = comply::verify_manifest(*dir);
    std::cout << "ok: " << n << " files match manifest.sha256\n";
  });

  // ---- detect
  auto* det = comply->add_subcommand("detect", "print findings for each line of stdin (or --text) as JSON");
  auto text = std::make_shared<std::string>();
  auto min_conf = std::make_shared<double>(0.5);
  det->add_option("--text", *text, "text to scan instead of stdin");
  det->add_option("--min-confidence", *min_conf, "drop weaker findings (0.5)");
  det->callback([text, min_conf] {
    comply::DetectOptions opt;
    opt.min_confidence = *min_conf;
    auto emit = [&](const std::string& t) {
      json arr = json::array();
      for (auto& f : comply::detect(t, opt)) {
        json j = comply::finding_to_json(f);
        arr.push_back(j);
      }
      std::cout << arr.dump() << "\n";
    };
    if (!text->empty()) {
      emit(*text);
    } else {
      std::string line;
      while (std::getline(std::cin, line)) emit(line);
    }
  });
}

}  // namespace exaone::cli

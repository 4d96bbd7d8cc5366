#include "train/governed_data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "comply/pipeline.h"
#include "comply/sha256.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone::train {
namespace fs = std::filesystem;

bool is_comply_output(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "manifest.sha256", ec);
}

GovernedCorpus read_governed_corpus(const std::string& dir) {
  GovernedCorpus c;
  try {
    c.files_verified = comply::verify_manifest(dir);
  } catch (const Error& e) {
    fail(std::string("training data refused: ") + e.what() +
         " (the corpus changed after `exaone comply scan`; scan it again)");
  }
  c.manifest_sha256 = comply::sha256_file_hex((fs::path(dir) / "manifest.sha256").string());
  c.screened = true;
  std::vector<fs::path> shards;
  const fs::path data = fs::path(dir) / "data";
  if (fs::is_directory(data))
    for (const auto& e : fs::directory_iterator(data))
      if (e.path().extension() == ".jsonl") shards.push_back(e.path());
  std::sort(shards.begin(), shards.end());  // shard-NNNNN: name order is input order
  for (const auto& p : shards) {
    std::ifstream in(p, std::ios::binary);
    if (!in) fail(p.string() + ": cannot open");
    std::string line;
    size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty()) continue;
      json j;
      try {
        j = json::parse(line);
      } catch (const std::exception& e) {
        fail(p.string() + ":" + std::to_string(line_no) + ": not JSON (" + e.what() + ")");
      }
      auto t = j.find("text");
      if (t == j.end() || !t->is_string()) fail(p.string() + ":" + std::to_string(line_no) + ": field 'text' missing");
      c.documents.push_back(t->get<std::string>());
    }
  }
  if (c.documents.empty()) fail(dir + ": the screened corpus keeps no documents (data/ is empty)");
  return c;
}

GovernedCorpus open_training_data(const std::string& path, bool allow_unscreened, const std::string& flag_name) {
  if (is_comply_output(path)) return read_governed_corpus(path);
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path + ": no such file or folder (" + flag_name + ")");
  if (!allow_unscreened)
    fail(path + ": training data must pass `exaone comply scan` first: give " + flag_name +
         " the scan's output folder (it holds manifest.sha256), or pass --unscreened to train on it anyway "
         "(recorded in training_data.json)");
  if (fs::is_directory(path, ec)) fail(path + ": a folder without manifest.sha256 is not a comply output (" + flag_name + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  GovernedCorpus c;
  c.documents.push_back(ss.str());
  return c;
}

void write_training_data_record(const std::string& out_dir, const std::string& data_path, const GovernedCorpus& c) {
  json j;
  j["data"] = fs::path(data_path).lexically_normal().filename().string().empty()
                  ? fs::path(data_path).lexically_normal().parent_path().filename().string()
                  : fs::path(data_path).lexically_normal().filename().string();
  j["screened"] = c.screened;
  j["manifest_sha256"] = c.screened ? json(c.manifest_sha256) : json(nullptr);
  j["files_verified"] = c.files_verified;
  j["documents"] = c.documents.size();
  if (!c.screened) j["note"] = "trained on data that did not pass `exaone comply scan` (--unscreened)";
  fs::create_directories(out_dir);
  std::ofstream out(fs::path(out_dir) / "training_data.json");
  out << j.dump(1) << "\n";
  if (!out) fail(out_dir + "/training_data.json: cannot write");
}

}  // namespace exaone::train

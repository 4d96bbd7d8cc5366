// Training data that passed `exaone comply scan` (issue #14: governed data). Training commands read
// a corpus only through this: a folder written by the scan is verified against its manifest
// (comply::verify_manifest) before a byte of it is read, and the digest of that manifest goes into
// the checkpoint and the model card. Anything else (a plain text file, raw token ids) is refused
// unless the user says so explicitly (`--unscreened`), and the output then records that it was.
#pragma once
#include <string>
#include <vector>

namespace exaone::train {

struct GovernedCorpus {
  std::vector<std::string> documents;  // the cleaned texts of the kept documents, in input order
  std::string manifest_sha256;         // SHA-256 of DIR/manifest.sha256 (it lists every file's digest); "" if unscreened
  size_t files_verified = 0;
  bool screened = false;
};

// True when `path` is a folder written by `exaone comply scan` (it holds manifest.sha256).
bool is_comply_output(const std::string& path);

// Reads the kept documents of a comply output folder after verifying its manifest. Throws Error
// naming the folder and the problem (missing or altered file, unlisted shard, bad shard line).
GovernedCorpus read_governed_corpus(const std::string& dir);

// The training-data gate of every training command. A comply output folder is read as above; any
// other path is refused with a message saying how to screen it, unless allow_unscreened, in which
// case the file is read whole as one document.
GovernedCorpus open_training_data(const std::string& path, bool allow_unscreened, const std::string& flag_name);

// Writes OUT/training_data.json: where the data came from (the folder's name, never a full path),
// whether it was screened, the manifest digest and the document count.
void write_training_data_record(const std::string& out_dir, const std::string& data_path, const GovernedCorpus& c);

}  // namespace exaone::train

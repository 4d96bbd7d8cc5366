// Precision and recall of the detectors on the committed, generated evaluation set
// (scripts/comply/make_eval_set.py). Prints a per-type table and asserts the goals: recall >= 0.99
// and precision >= 0.97 overall, and no type below 0.95 on either.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "comply/detect.h"
#include "util/json_file.h"

using namespace exaone;
using namespace exaone::comply;

namespace {
struct Counts {
  int labels = 0, found = 0, preds = 0, correct = 0, ck_labels = 0, ck_found = 0;
};
}  // namespace

TEST(ComplyEval, PrecisionRecallPerType) {
  std::ifstream in(std::string(EXAONE_FIXTURES) + "/comply/eval_set.jsonl");
  ASSERT_TRUE(in) << "missing eval_set.jsonl";
  std::map<std::string, Counts> c;
  std::string line;
  int docs = 0;
  while (std::getline(in, line)) {
    json d = json::parse(line);
    std::string text = d["text"];
    auto preds = detect(text);
    ++docs;
    std::vector<bool> used(preds.size(), false);
    for (const auto& l : d["labels"]) {
      std::string t = l["type"];
      size_t s = l["start"], e = l["end"];
      bool ck = l["checksum_valid"].is_boolean() && l["checksum_valid"].get<bool>();
      auto& ct = c[t];
      ct.labels++;
      ct.ck_labels += ck;
      bool hit = false;
      for (size_t k = 0; k < preds.size(); ++k)
        if (preds[k].type == t && preds[k].start < e && s < preds[k].end) hit = true;
      ct.found += hit;
      if (!hit)
        std::printf("  missed         %-14s %s [%s]\n", t.c_str(), d["id"].get<std::string>().c_str(),
                    text.substr(s, e - s).c_str());
      ct.ck_found += hit && ck;
    }
    for (const auto& p : preds) {
      auto& ct = c[std::string(p.type)];
      ct.preds++;
      bool ok = false;
      for (const auto& l : d["labels"])
        if (l["type"] == std::string(p.type) && p.start < l["end"].get<size_t>() && l["start"].get<size_t>() < p.end) ok = true;
      ct.correct += ok;
      if (!ok)
        std::printf("  false positive %-14s %s [%s]\n", std::string(p.type).c_str(), d["id"].get<std::string>().c_str(),
                    text.substr(p.start, p.end - p.start).c_str());
    }
  }
  Counts all;
  std::printf("%d documents\n%-15s %7s %7s %9s %9s %12s\n", docs, "type", "labels", "preds", "precision", "recall",
              "recall(ck)");
  for (auto& [t, ct] : c) {
    std::printf("%-15s %7d %7d %9.3f %9.3f %12s\n", t.c_str(), ct.labels, ct.preds,
                ct.preds ? double(ct.correct) / ct.preds : 1.0, ct.labels ? double(ct.found) / ct.labels : 1.0,
                ct.ck_labels ? std::to_string(double(ct.ck_found) / ct.ck_labels).substr(0, 5).c_str() : "-");
    all.labels += ct.labels, all.found += ct.found, all.preds += ct.preds, all.correct += ct.correct;
    all.ck_labels += ct.ck_labels, all.ck_found += ct.ck_found;
  }
  double precision = double(all.correct) / all.preds, recall = double(all.found) / all.labels;
  double ck_recall = double(all.ck_found) / all.ck_labels;
  std::printf("%-15s %7d %7d %9.3f %9.3f %12.3f\n", "overall", all.labels, all.preds, precision, recall, ck_recall);
  // Every type must be represented in the set, and none may fall far behind the overall figures.
  for (const auto& t : finding_types()) {
    const Counts& ct = c[t];
    EXPECT_GT(ct.labels, 0) << t;
    EXPECT_GE(ct.labels ? double(ct.found) / ct.labels : 0.0, 0.95) << "recall of " << t;
    EXPECT_GE(ct.preds ? double(ct.correct) / ct.preds : 1.0, 0.95) << "precision of " << t;
  }
  EXPECT_GE(recall, 0.99) << "overall recall";
  EXPECT_GE(ck_recall, 0.99) << "recall on checksum-valid identifiers";
  EXPECT_GE(precision, 0.97) << "overall precision";
}

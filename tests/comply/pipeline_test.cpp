// End-to-end tests of `comply scan`: outputs, bad input, refusal to overwrite, digests,
// resume after interruption, key secrecy, and the HTML report rendering in headless Chromium.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "comply/pipeline.h"
#include "comply/report.h"
#include "util/error.h"

using namespace exaone;
using namespace exaone::comply;
namespace fs = std::filesystem;

namespace {
std::string tmpdir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("exaone_comply_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}
void write(const std::string& path, const std::string& s) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << s;
}
std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}
std::string slurp(const std::string& path) { return read_text_file(path); }

// A corpus with every kind of trouble: PII, duplicates, broken lines, bad UTF-8, no card.
std::string make_corpus(const std::string& root, int extra_docs = 0) {
  std::string in = root + "/in";
  write(in + "/news/source.json",
        R"({"name":"news","license":"CC-BY-4.0","origin":"https://example.org","commercial_use":true})");
  write(in + "/law/source.yaml", "name: law\nart7_category: court_decision\norigin: court records\n");
  write(in + "/nc/source.json", R"({"name":"nc","license":"CC-BY-NC-4.0","commercial_use":false})");
  std::string news =
      R"({"id":"n1","text":"담당자 김민준 과장 연락처 010-1234-5678, 주민등록번호 900101-1234568"})" "\n"
      R"({"id":"n2","text":"오늘 날씨는 맑음. 주문번호 20230815-0012345"})" "\n"
      R"({"id":"n3","text":"오늘  날씨는 맑음.   주문번호 20230815-0012345"})" "\n"
      "{\"id\":\"n4\",\"text\":\"broken\n"
      "\n"
      R"({"id":"n5","text":"card 4111 1111 1111 1111","source":"nowhere"})" "\n"
      R"({"id":"n6","text":42})" "\n"
      "{\"id\":\"n7\",\"text\":\"bad \xff utf8\"}\n";
  for (int i = 0; i < extra_docs; ++i)
    news += R"({"id":"x)" + std::to_string(i) + R"(","text":"문서 )" + std::to_string(i) +
            R"( 번: 고객 연락처 010-5555-)" + std::to_string(1000 + i) + R"( 로 안내했습니다. 반복 없는 본문 )" +
            std::to_string(i * 7919) + "\"}\n";
  write(in + "/news/a.jsonl", news);
  write(in + "/law/ruling.txt", "대법원 판결문. 원고 주소 서울특별시 서초구 서초대로 219\n");
  write(in + "/nc/b.jsonl", R"({"id":"c1","text":"non-commercial text"})" "\n");
  write(in + "/orphan/c.txt", "text without any card\n");
  return in;
}
}  // namespace

TEST(ComplyScan, WritesShardsManifestReportAndDigests) {
  std::string root = tmpdir("scan");
  ScanOptions o;
  o.input = make_corpus(root);
  o.out_dir = root + "/out";
  o.action = Action::Mask;
  auto s = scan(o);
  EXPECT_TRUE(s.complete);
  auto m = read_jsonl(o.out_dir + "/manifest.jsonl");
  // Every non-blank input line and file has exactly one record.
  EXPECT_EQ(m.size(), 10u);
  EXPECT_EQ(s.documents, 10u);
  std::map<std::string, json> by_id;
  for (auto& r : m) by_id[r["id"]] = r;
  EXPECT_EQ(by_id["n1"]["decision"], "keep");
  EXPECT_EQ(by_id["n1"]["findings"].size(), 3u);
  EXPECT_EQ(by_id["n1"]["rules_version"], kRulesVersion);
  EXPECT_EQ(by_id["n3"]["decision"], "duplicate");
  EXPECT_EQ(by_id["n3"]["duplicate_of"], "n2");
  EXPECT_EQ(by_id["n5"]["decision"], "quarantine");  // names a source without a card
  EXPECT_EQ(by_id["c1"]["decision"], "exclude");
  EXPECT_EQ(by_id["law/ruling.txt"]["decision"], "keep");
  EXPECT_EQ(by_id["orphan/c.txt"]["decision"], "quarantine");
  EXPECT_EQ(by_id["n6"]["decision"], "error");
  EXPECT_NE(by_id["n6"]["reasons"][0].get<std::string>().find("field 'text'"), std::string::npos);
  EXPECT_EQ(by_id["news/a.jsonl:4"]["decision"], "error");
  EXPECT_NE(by_id["news/a.jsonl:4"]["reasons"][0].get<std::string>().find("news/a.jsonl:4: invalid JSON"),
            std::string::npos);
  EXPECT_EQ(by_id["n5"]["input"]["line"], 6);  // line numbers count the blank line
  EXPECT_EQ(by_id["news/a.jsonl:8"]["decision"], "error");  // invalid UTF-8 inside a JSON string
  // Masked output; manifest offsets refer to the input text.
  auto data = read_jsonl(o.out_dir + "/data/shard-00000.jsonl");
  ASSERT_EQ(data.size(), 3u);  // law/ruling.txt, n1, n2 (files in sorted order)
  EXPECT_EQ(data[1]["id"], "n1");
  EXPECT_EQ(data[1]["text"], "담당자 김** 과장 연락처 010-****-5678, 주민등록번호 900101-1******");
  EXPECT_EQ(slurp(o.out_dir + "/data/shard-00000.jsonl").find("1234568"), std::string::npos);
  // Reports.
  json rep = read_json_file(o.out_dir + "/report.json");
  EXPECT_EQ(rep["documents"], 10);
  EXPECT_EQ(rep["findings_by_type"]["rrn"], 1);
  EXPECT_EQ(rep["duplicates"]["exact"], 1);
  std::string html = slurp(o.out_dir + "/report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no external resources
  // Digests verify, and any change is caught.
  EXPECT_GE(verify_manifest(o.out_dir), 4u);
  { std::ofstream(o.out_dir + "/data/shard-00000.jsonl", std::ios::app) << "{}\n"; }
  EXPECT_THROW(verify_manifest(o.out_dir), Error);
  // A non-empty output folder is refused without --force.
  EXPECT_THROW(scan(o), Error);
  o.force = true;
  EXPECT_TRUE(scan(o).complete);
  EXPECT_GE(verify_manifest(o.out_dir), 4u);
  fs::remove_all(root);
}

TEST(ComplyScan, ResumeAfterInterruptionGivesTheSameOutputs) {
  std::string root = tmpdir("resume");
  ScanOptions o;
  o.input = make_corpus(root, 300);
  o.action = Action::Pseudonymize;
  o.key = "test-key-never-written";
  o.batch_bytes = 2000;  // many small batches
  o.shard_bytes = 4000;  // several shards
  o.out_dir = root + "/full";
  ASSERT_TRUE(scan(o).complete);

  o.out_dir = root + "/interrupted";
  o.stop_after_batches = 3;
  EXPECT_FALSE(scan(o).complete);
  // Simulate a crash mid-batch: garbage appended after the checkpoint must be discarded.
  { std::ofstream(o.out_dir + "/manifest.jsonl", std::ios::app) << "{\"partial\":"; }
  { std::ofstream(o.out_dir + "/data/shard-00000.jsonl", std::ios::app) << "partial line"; }
  EXPECT_THROW(scan(o), Error);  // not empty, no --resume
  o.resume = true;
  o.stop_after_batches = 5;
  EXPECT_FALSE(scan(o).complete);
  o.stop_after_batches = 0;
  EXPECT_TRUE(scan(o).complete);
  EXPECT_TRUE(scan(o).complete);  // resuming a finished scan is a no-op
  for (std::string f : {"manifest.jsonl", "manifest.sha256", "report.json", "report.html", "data/shard-00000.jsonl",
                        "data/shard-00001.jsonl"})
    EXPECT_EQ(slurp(root + "/full/" + f), slurp(root + "/interrupted/" + f)) << f;
  // The key never appears in any output file.
  for (auto& e : fs::recursive_directory_iterator(root + "/interrupted")) {
    if (e.is_regular_file()) {
      EXPECT_EQ(slurp(e.path().string()).find(o.key), std::string::npos) << e.path();
    }
  }
  // Changed options cannot resume a folder.
  o.action = Action::Mask;
  EXPECT_THROW(scan(o), Error);
  fs::remove_all(root);
}

// The report is tallied while the manifest is written; it must say what the manifest says,
// also for ids that are not valid UTF-8 (written, and so reported, with U+FFFD).
TEST(ComplyReport, TallyAgreesWithTheManifest) {
  std::string root = tmpdir("tally");
  ScanOptions o;
  o.input = make_corpus(root, 40);
  write(o.input + "/orphan/bad\xff.txt", "text without any card\n");  // duplicate, invalid id
  write(o.input + "/news/near.jsonl",
        R"({"id":"m1","text":"오늘 날씨는 맑음. 주문번호 20230815-0012345 그리고 조금 더 긴 문장을 덧붙입니다"})" "\n"
        R"({"id":"m2","text":"오늘 날씨는 맑음. 주문번호 20230815-0012345 그리고 조금 더 긴 문장을 덧붙였습니다"})" "\n");
  o.out_dir = root + "/out";
  o.action = Action::Mask;
  o.dedup.threshold = 0.5;
  ASSERT_TRUE(scan(o).complete);
  json rep = read_json_file(o.out_dir + "/report.json");
  EXPECT_EQ(rep, build_report(o.out_dir + "/manifest.jsonl", rep["run"]));
  EXPECT_GE(rep["duplicates"]["exact"].get<int>(), 2);
  EXPECT_GE(rep["duplicates"]["near"].get<int>(), 1);
  EXPECT_FALSE(rep["quarantined"].empty());
  EXPECT_FALSE(rep["errors"].empty());
  EXPECT_NE(rep.dump().find("bad\xef\xbf\xbd.txt"), std::string::npos);
  fs::remove_all(root);
}

// Checkpoints written before the report was tallied have no "report": such a scan resumes
// and reports from its manifest, as it would have done.
TEST(ComplyScan, ResumesACheckpointWithoutReportCounters) {
  std::string root = tmpdir("oldckpt");
  ScanOptions o;
  o.input = make_corpus(root, 200);
  o.batch_bytes = 2000;
  o.shard_bytes = 4000;
  o.out_dir = root + "/full";
  ASSERT_TRUE(scan(o).complete);
  o.out_dir = root + "/interrupted";
  o.stop_after_batches = 3;
  EXPECT_FALSE(scan(o).complete);
  json ckpt = read_json_file(o.out_dir + "/checkpoint.json");
  ASSERT_TRUE(ckpt.contains("report"));
  ckpt.erase("report");
  { std::ofstream(o.out_dir + "/checkpoint.json") << ckpt.dump(1) << "\n"; }
  o.resume = true;
  o.stop_after_batches = 4;
  EXPECT_FALSE(scan(o).complete);  // interrupted again: still no counters to trust
  EXPECT_FALSE(read_json_file(o.out_dir + "/checkpoint.json").contains("report"));
  o.stop_after_batches = 0;
  EXPECT_TRUE(scan(o).complete);
  for (std::string f : {"manifest.jsonl", "manifest.sha256", "report.json", "report.html"})
    EXPECT_EQ(slurp(root + "/full/" + f), slurp(root + "/interrupted/" + f)) << f;
  EXPECT_GE(verify_manifest(o.out_dir), 4u);
  fs::remove_all(root);
}

TEST(ComplyScan, VeryLongLinesAreRecordedNotLoaded) {
  std::string root = tmpdir("long");
  write(root + "/in/source.json", R"({"name":"s","license":"MIT","commercial_use":true})");
  write(root + "/in/a.jsonl", R"({"text":")" + std::string(5000, 'a') + "\"}\n" + R"({"text":"short"})" "\n");
  ScanOptions o;
  o.input = root + "/in";
  o.out_dir = root + "/out";
  o.max_line_bytes = 1000;
  scan(o);
  auto m = read_jsonl(o.out_dir + "/manifest.jsonl");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0]["decision"], "error");
  EXPECT_NE(m[0]["reasons"][0].get<std::string>().find("longer than 1000 bytes"), std::string::npos);
  EXPECT_EQ(m[1]["decision"], "keep");
  EXPECT_EQ(m[1]["input"]["line"], 2);
  fs::remove_all(root);
}

TEST(ComplyScan, DropActionAndPolicyFile) {
  std::string root = tmpdir("drop");
  std::string in = make_corpus(root);
  write(root + "/policy.yaml", "allow: [CC-BY-4.0]\ndeny: [CC-BY-NC-4.0]\nrequire_commercial_use: true\n"
                               "public_domain_categories: [court_decision]\ndrop_threshold: 1\n");
  ScanOptions o;
  o.input = in;
  o.out_dir = root + "/out";
  o.policy_path = root + "/policy.yaml";
  o.action = Action::Drop;
  scan(o);
  std::map<std::string, json> by_id;
  for (auto& r : read_jsonl(o.out_dir + "/manifest.jsonl")) by_id[r["id"]] = r;
  EXPECT_EQ(by_id["n1"]["decision"], "drop");  // 3 findings > 1
  EXPECT_EQ(by_id["law/ruling.txt"]["decision"], "keep");  // 1 finding, masked
  write(root + "/bad.json", R"({"allow":["MIT"],"deny":["MIT"]})");
  o.policy_path = root + "/bad.json";
  o.force = true;
  EXPECT_THROW(scan(o), Error);
  fs::remove_all(root);
}

TEST(ComplyReport, RendersInHeadlessChromium) {
  std::string chromium;
  for (const char* c : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(c)) chromium = c;
  if (chromium.empty()) GTEST_SKIP() << "Chromium not installed (apt-get install chromium); report not rendered";
  std::string root = tmpdir("html");
  ScanOptions o;
  o.input = make_corpus(root, 20);
  o.out_dir = root + "/out";
  scan(o);
  std::string png = root + "/report.png";
  std::string cmd = chromium + " --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,1600 " +
                    "--screenshot=" + png + " file://" + o.out_dir + "/report.html >/dev/null 2>&1";
  int rc = std::system(cmd.c_str());
  if (rc != 0 || !fs::exists(png)) GTEST_SKIP() << "Chromium could not run here (exit " << rc << ")";
  std::string bytes = slurp(png);
  ASSERT_GT(bytes.size(), 20000u) << "screenshot suspiciously small";
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  if (const char* keep = std::getenv("EXAONE_KEEP_REPORT_PNG")) fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
  fs::remove_all(root);
}

// The per-document stage run elsewhere (ScanPlan over byte ranges, as the Python package's Ray
// scan does) and fed to scan() through external_results writes the same files as a plain scan.
TEST(ComplyScan, ExternalResultsOverRangesGiveTheSameOutputs) {
  std::string root = tmpdir("external");
  ScanOptions o;
  o.input = make_corpus(root, 200);
  o.action = Action::Mask;
  o.out_dir = root + "/plain";
  ASSERT_TRUE(scan(o).complete);

  ScanPlan plan(o);
  struct Range {
    size_t file;
    uint64_t begin, end, line = 1, ordinal = 0;
  };
  std::vector<Range> ranges;
  for (size_t i = 0; i < plan.files().size(); ++i) {
    const auto& f = plan.files()[i];
    if (!f.jsonl) ranges.push_back({i, 0, std::max<uint64_t>(f.size, 1)});
    else
      for (uint64_t b = 0; b < f.size; b += 997) ranges.push_back({i, b, std::min<uint64_t>(f.size, b + 997)});
  }
  ASSERT_GT(ranges.size(), 20u);
  uint64_t line = 1, ordinal = 0;
  for (size_t k = 0; k < ranges.size(); ++k) {
    if (k && ranges[k].file != ranges[k - 1].file) line = 1;
    ranges[k].line = line;
    ranges[k].ordinal = ordinal;
    uint64_t lines, docs;
    plan.count_range(ranges[k].file, ranges[k].begin, ranges[k].end, lines, docs);
    line += lines;
    ordinal += docs;
  }
  EXPECT_EQ(ordinal, 210u);
  size_t next = 0;
  ScanOptions x = o;
  x.out_dir = root + "/external";
  x.external_results = [&](std::string& out) {
    if (next == ranges.size()) return false;
    // Several ranges per batch, as results arrive.
    for (int i = 0; i < 3 && next < ranges.size(); ++i, ++next) {
      const Range& r = ranges[next];
      plan.process_range(r.file, r.begin, r.end, r.line, r.ordinal, out);
    }
    return true;
  };
  auto s = scan(x);
  EXPECT_TRUE(s.complete);
  EXPECT_EQ(s.documents, 210u);
  EXPECT_EQ(slurp(root + "/external/manifest.sha256"), slurp(root + "/plain/manifest.sha256"));
  EXPECT_EQ(slurp(root + "/external/manifest.jsonl"), slurp(root + "/plain/manifest.jsonl"));
  EXPECT_EQ(verify_manifest(root + "/external"), verify_manifest(root + "/plain"));

  // One document alone: the record a scan of a one-line file writes.
  write(root + "/one/doc.jsonl", R"({"id":"d","source":"s","text":"연락처 010-1234-5678"})" "\n");
  ScanOptions one;
  one.input = root + "/one/doc.jsonl";
  one.out_dir = root + "/one-out";
  one.action = Action::Mask;
  ASSERT_TRUE(scan(one).complete);
  ScanOptions bare;
  bare.action = Action::Mask;
  json rec = ScanPlan(bare).scan_document("연락처 010-1234-5678", {{"id", "d"}, {"source", "s"}}, "doc.jsonl");
  EXPECT_EQ(rec, read_jsonl(root + "/one-out/manifest.jsonl").at(0));
  fs::remove_all(root);
}

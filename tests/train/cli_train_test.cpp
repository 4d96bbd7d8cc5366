// `exaone train` end to end (when the binary is built): outputs, a checkpoint `exaone` loads,
// and --resume continuing an interrupted run with the same loss curve bit for bit.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "train/plot.h"
#include "run_exaone.h"

namespace exaone::train {
namespace {

namespace fs = std::filesystem;

int run(const std::string& args, std::string* err = nullptr) { return run_exaone(args, err); }

TEST(TrainCli, TrainsSavesAndResumesExactly) {
  if (!fs::exists(EXAONE_BINARY)) GTEST_SKIP() << "exaone binary not built";
  const fs::path dir = fs::path(testing::TempDir()) / ("exaone_train_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream cfg(dir / "config.json");
    cfg << R"({"model_type": "exaone4", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48,
      "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
      "max_position_embeddings": 64, "tie_word_embeddings": true, "sliding_window": 4,
      "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
      "rope_theta": 10000.0})";
    std::ofstream tok(dir / "tokens.bin", std::ios::binary);
    for (int i = 0; i < 3000; ++i) {
      const int32_t t = (i % 9 == 8) ? 40 + (i / 9) % 7 : 1 + i % 9 * 3;
      tok.write(reinterpret_cast<const char*>(&t), 4);
    }
  }
  const std::string common = "train --config " + (dir / "config.json").string() + " --unscreened --tokens " +
                             (dir / "tokens.bin").string() + " --steps 8 --batch 2 --seq 16 --accum 2 --lr 5e-3 -t 2";
  std::string err;
  ASSERT_EQ(run(common + " -o " + (dir / "full").string(), &err), 0) << err;
  EXPECT_NE(err.find("tok/s"), std::string::npos) << err;
  EXPECT_NE(err.find("MFU"), std::string::npos) << err;
  for (const char* f : {"model.safetensors", "config.json", "loss.csv", "loss.png", "checkpoint/optimizer.safetensors",
                        "checkpoint/trainer_state.json"})
    EXPECT_TRUE(fs::exists(dir / "full" / f)) << f;
  EXPECT_EQ(slurp(dir / "full" / "loss.png").substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));

  // Interrupted after 3 steps, then resumed: the same curve.
  ASSERT_EQ(run(common + " --stop-after 3 -o " + (dir / "part").string(), &err), 0) << err;
  ASSERT_EQ(run(common + " --resume " + (dir / "part" / "checkpoint").string() + " -o " + (dir / "part").string(), &err), 0)
      << err;
  const std::string full_csv = slurp(dir / "full" / "loss.csv"), part_csv = slurp(dir / "part" / "loss.csv");
  auto losses = [](const std::string& csv) {  // step,loss columns only (tokens/s differ run to run)
    std::stringstream in(csv), out;
    std::string line;
    while (std::getline(in, line)) out << line.substr(0, line.find(',', line.find(',') + 1)) << "\n";
    return out.str();
  };
  EXPECT_EQ(losses(part_csv), losses(full_csv));
  EXPECT_EQ(slurp(dir / "part" / "model.safetensors"), slurp(dir / "full" / "model.safetensors"));

  // The trained model runs in the inference engine.
  ASSERT_EQ(run("logits -m " + (dir / "full").string() + " --ids 1,4,7", &err), 0) << err;

  // A shape instead of a config file: hybrid layout from the pattern, loadable as well.
  ASSERT_EQ(run("train --shape layers=3,hidden=32,heads=2,kv=1,inter=64,vocab=64,window=4,pattern=LG --unscreened --tokens " +
                    (dir / "tokens.bin").string() + " --steps 2 --batch 2 --seq 8 -t 2 -o " + (dir / "shape").string(),
                &err),
            0)
      << err;
  const std::string cfg = slurp(dir / "shape" / "config.json");
  EXPECT_NE(cfg.find(R"("sliding_window": 4)"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find(R"("full_attention")"), std::string::npos) << cfg;
  ASSERT_EQ(run("logits -m " + (dir / "shape").string() + " --ids 1,4,7", &err), 0) << err;
  EXPECT_NE(run("train --shape layers=2,colour=3 --tokens " + (dir / "tokens.bin").string() + " -o " +
                    (dir / "bad").string(),
                &err),
            0);
  EXPECT_NE(err.find("unknown key 'colour'"), std::string::npos) << err;
  fs::remove_all(dir);
}

// Governed data: a corpus screened by `exaone comply scan` trains, its manifest digest is recorded;
// an altered shard, an unscreened file (without --unscreened) and raw tokens (likewise) are refused.
TEST(TrainCli, ReadsOnlyScreenedCorporaUnlessToldOtherwise) {
  if (!fs::exists(EXAONE_BINARY)) GTEST_SKIP() << "exaone binary not built";
  const fs::path dir = fs::path(testing::TempDir()) / ("exaone_train_governed_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "corpus");
  {
    std::ofstream docs(dir / "corpus" / "docs.jsonl");
    for (int i = 0; i < 40; ++i)
      docs << R"({"id": "d)" << i << R"(", "text": "안녕하세요. Document )" << i
           << R"( says hello in Korean and English, line )" << i * 7 << R"(."})" << "\n";
    std::ofstream card(dir / "corpus" / "source.json");
    card << R"({"name": "test-corpus", "license": "CC0-1.0", "commercial_use": true})";
  }
  std::string err;
  ASSERT_EQ(run("comply scan --in " + (dir / "corpus").string() + " --out " + (dir / "screened").string(), &err), 0)
      << err;
  const std::string model = std::string(" -m ") + EXAONE_FIXTURES + "/../../models/exaone4-tiny";
  const std::string train = "train" + model + " --shape layers=2,hidden=32,heads=2,kv=1,inter=64,window=0" +
                            " --steps 2 --batch 2 --seq 16 -t 2 ";
  ASSERT_EQ(run(train + "--data " + (dir / "screened").string() + " -o " + (dir / "ok").string(), &err), 0) << err;
  const std::string record = slurp(dir / "ok" / "training_data.json");
  EXPECT_NE(record.find(R"("screened": true)"), std::string::npos) << record;
  EXPECT_NE(record.find(R"("documents": 40)"), std::string::npos) << record;
  EXPECT_NE(record.find(R"("manifest_sha256": ")"), std::string::npos) << record;
  EXPECT_EQ(record.find(dir.string()), std::string::npos) << "no full path in the record: " << record;

  // Unscreened text: refused without the flag, recorded as unscreened with it.
  {
    std::ofstream text(dir / "plain.txt");
    text << "plain text that never went through the compliance scan. 안녕하세요.\n";
  }
  EXPECT_EQ(run(train + "--data " + (dir / "plain.txt").string() + " -o " + (dir / "plain").string(), &err), 2);
  EXPECT_NE(err.find("must pass `exaone comply scan`"), std::string::npos) << err;
  ASSERT_EQ(run(train + "--unscreened --data " + (dir / "plain.txt").string() + " -o " + (dir / "plain").string(), &err),
            0)
      << err;
  EXPECT_NE(slurp(dir / "plain" / "training_data.json").find(R"("screened": false)"), std::string::npos);
  {
    std::ofstream tok(dir / "tokens.bin", std::ios::binary);
    for (int32_t t = 0; t < 200; ++t) tok.write(reinterpret_cast<const char*>(&t), 4);
  }
  EXPECT_EQ(run(train + "--tokens " + (dir / "tokens.bin").string() + " -o " + (dir / "tok").string(), &err), 2);
  EXPECT_NE(err.find("--unscreened"), std::string::npos) << err;

  // A shard altered after the scan: refused, naming the file.
  fs::path shard;
  for (const auto& e : fs::directory_iterator(dir / "screened" / "data")) shard = e.path();
  std::ofstream(shard, std::ios::app) << R"({"id": "sneaked-in", "text": "not screened"})" << "\n";
  EXPECT_EQ(run(train + "--data " + (dir / "screened").string() + " -o " + (dir / "bad").string(), &err), 2);
  EXPECT_NE(err.find("training data refused"), std::string::npos) << err;
  EXPECT_NE(err.find(shard.filename().string()), std::string::npos) << err;
  fs::remove_all(dir);
}

// --bench prints one machine-readable line and writes nothing; --matmul takes fp32 or bf16.
TEST(TrainCli, BenchAndMatmulFlags) {
  if (!fs::exists(EXAONE_BINARY)) GTEST_SKIP() << "exaone binary not built";
  const fs::path dir = fs::path(testing::TempDir()) / ("exaone_train_bench_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream tok(dir / "tokens.bin", std::ios::binary);
    for (int i = 0; i < 2000; ++i) {
      const int32_t t = (i * 7) % 60;
      tok.write(reinterpret_cast<const char*>(&t), 4);
    }
  }
  const std::string common = "train --shape layers=2,hidden=32,heads=4,kv=2,inter=64,vocab=64 --unscreened --tokens " +
                             (dir / "tokens.bin").string() + " --batch 2 --seq 16 -t 2 -o " + (dir / "out").string();
  const std::string out_file = (dir / "bench.txt").string();
  const int status = std::system((std::string(EXAONE_BINARY) + " " + common + " --bench --steps 2 >" + out_file +
                                  " 2>/dev/null").c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string out = slurp(out_file);
  for (const char* key : {"bench: matmul=fp32", "tok_s_median=", "mfu_fp32=", "mfu_bf16=", "peak_fp32_gflops=",
                          "rss_bytes_per_param="})
    EXPECT_NE(out.find(key), std::string::npos) << key << " in " << out;
  EXPECT_FALSE(fs::exists(dir / "out"));
  std::string err;
  EXPECT_EQ(run(common + " --steps 1 --matmul fp16", &err), 2);
  EXPECT_NE(err.find("--matmul: expected fp32 or bf16"), std::string::npos) << err;
  fs::remove_all(dir);
}

TEST(TrainPlot, PngIsWellFormed) {
  std::vector<CurvePoint> c;
  for (int i = 0; i < 50; ++i) c.push_back({i, 4.0 / (1 + 0.1 * i), 1e-3, 1.0, 100});
  const fs::path p = fs::path(testing::TempDir()) / ("exaone_plot_" + std::to_string(::getpid()) + ".png");
  write_loss_png(p.string(), c, 320, 200);
  const std::string png = slurp(p);
  ASSERT_GT(png.size(), 320u * 200u * 3u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(png.substr(png.size() - 8, 4), "IEND");
  fs::remove(p);
}

}  // namespace
}  // namespace exaone::train

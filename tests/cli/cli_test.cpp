#include "test_env.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <sys/wait.h>

namespace fs = std::filesystem;

namespace {

struct Result {
    int code = -1;
    std::string out; // stdout and stderr together when merge is set
};

Result sh(const std::string& args, bool merge = false) {
    const std::string cmd = std::string(BITNET_EXE) + " " + args + (merge ? " 2>&1" : " 2>/dev/null");
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int st = pclose(p);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

std::string oracle_file(const char* name) {
    const auto d = bitnet::testing::oracle_dir();
    return d ? (*d / name).string() : std::string();
}

#define NEED_ORACLE()                                                                                       \
    if (!bitnet::testing::oracle_dir()) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)"

TEST(Cli, PluginsJsonContract) {
    auto r = sh("plugins --json");
    ASSERT_EQ(r.code, 0);
    auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j["plugins"].is_array());
    bool scalar = false;
    for (const auto& p : j["plugins"]) {
        for (const char* k : {"name", "version", "device", "status", "reason", "path"}) EXPECT_TRUE(p[k].is_string()) << k;
        EXPECT_TRUE(p["kernels"].is_number_integer());
        EXPECT_TRUE(p["status"] == "loaded" || p["status"] == "refused");
        if (p["name"] == "scalar" && p["status"] == "loaded") scalar = true;
    }
    EXPECT_TRUE(scalar) << r.out;
}

TEST(Cli, EverySubcommandHasHelp) {
    for (const char* c : {"run", "plugins", "inspect", "tokenize", "eval", "perplexity", "gen-model", "bench"}) {
        auto r = sh(std::string(c) + " --help");
        EXPECT_EQ(r.code, 0) << c;
        EXPECT_NE(r.out.find("usage: bitnet"), std::string::npos) << c << ": " << r.out;
    }
    EXPECT_EQ(sh("no-such-command").code, 2);
}

TEST(Cli, TokenizeJsonContract) {
    NEED_ORACLE();
    auto r = sh("tokenize -m " + oracle_file("b158-small-i2_s.gguf") + " --json 'Hello world<|eot_id|>'");
    ASSERT_EQ(r.code, 0);
    EXPECT_EQ(nlohmann::json::parse(r.out), nlohmann::json::parse(R"({"ids":[9906,1917,128009]})"));
}

TEST(Cli, EvalJsonContract) {
    NEED_ORACLE();
    auto r = sh("eval -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " --ids 2990,32,934 --top-k 4 --vocab-ids 5,11,2999 --json");
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["positions"].size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        const auto& p = j["positions"][i];
        EXPECT_EQ(p["pos"], i);
        EXPECT_TRUE(p["argmax"].is_number_integer());
        EXPECT_GT(p["logsumexp"].get<double>(), 7.0);
        ASSERT_EQ(p["top_k"].size(), 4u);
        EXPECT_EQ(p["top_k"][0][0], p["argmax"]);
        ASSERT_EQ(p["logits"].size(), 3u);
        EXPECT_EQ(p["logits"][2][0], 2999);
        EXPECT_GE(p["top_k"][0][1].get<double>(), p["top_k"][3][1].get<double>());
    }
}

TEST(Cli, RunPrintsTextAndSummary) {
    NEED_ORACLE();
    auto r = sh("run -m " + oracle_file("b158-small-i2_s.gguf") + " -p Hello -n 8 --temp 0", true);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("tok/s"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("ttft"), std::string::npos);
    EXPECT_NE(r.out.find("peak RSS"), std::string::npos);
    // Greedy is deterministic.
    EXPECT_EQ(sh("run -m " + oracle_file("b158-small-i2_s.gguf") + " -p Hello -n 8 --temp 0").out,
              sh("run -m " + oracle_file("b158-small-i2_s.gguf") + " -p Hello -n 8 --temp 0 -t 1").out);
}

// --no-mmap reads the weights into memory: the same logits, so the same greedy text.
TEST(Cli, NoMmapGivesTheSameLogits) {
    NEED_ORACLE();
    const std::string args = "eval -m " + oracle_file("b158-small-i2_s.gguf") + " --ids 2990,32,934 --top-k 4 --json";
    const auto mapped = sh(args);
    const auto read = sh(args + " --no-mmap");
    ASSERT_EQ(mapped.code, 0) << mapped.out;
    ASSERT_EQ(read.code, 0) << read.out;
    EXPECT_EQ(nlohmann::json::parse(read.out)["positions"], nlohmann::json::parse(mapped.out)["positions"]);
}

TEST(Cli, OverlongPromptIsAClearError) {
    NEED_ORACLE();
    std::string prompt(400, 'a');
    for (size_t i = 1; i < prompt.size(); i += 2) prompt[i] = ' ';
    auto r = sh("run -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " -c 64 -n 4 -p '" + prompt + "'", true);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("context"), std::string::npos) << r.out;
}

TEST(Cli, BadInputsAreClearErrors) {
    auto r = sh("run -m /nonexistent/model.gguf -p hi", true);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("/nonexistent/model.gguf"), std::string::npos) << r.out;
    const fs::path dir = bitnet::testing::make_temp_dir("cli");
    std::ofstream(dir / "bad.yaml") << "threads: 2\nsampling:\n  temprature: 0.3\n";
    r = sh("plugins --config " + (dir / "bad.yaml").string(), true);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("bad.yaml:3"), std::string::npos) << r.out;
    std::ofstream(dir / "junk.gguf") << "GGUF but not really";
    r = sh("inspect " + (dir / "junk.gguf").string(), true);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("junk.gguf"), std::string::npos) << r.out;
    EXPECT_EQ(sh("eval --ids 1,x,3 -m " + (dir / "junk.gguf").string(), true).code, 1);
    fs::remove_all(dir);
}

TEST(Cli, BenchJsonContract) {
    NEED_ORACLE();
    auto r = sh("bench -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " -t 2 -p 8 -n 4 -r 2 --json");
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["threads"], 2);
    for (const char* k : {"ttft_ms", "bandwidth_gbs", "roofline_fraction"}) EXPECT_TRUE(j[k].is_number()) << k;
    for (const char* k : {"peak_rss_bytes", "bytes_per_token", "weights_huge_page_bytes"})
        EXPECT_TRUE(j[k].is_number_unsigned()) << k;
    EXPECT_LE(j["weights_huge_page_bytes"].get<double>(), j["model_file_bytes"].get<double>());
    EXPECT_GT(j["pp"]["tokens_per_s"].get<double>(), 0.0);
    EXPECT_GT(j["tg"]["tokens_per_s"].get<double>(), 0.0);
    EXPECT_GT(j["tg"]["p95_ms"].get<double>(), 0.0);
    EXPECT_GE(j["tg"]["p95_ms"].get<double>(), j["tg"]["p50_ms"].get<double>());
    EXPECT_GT(j["bandwidth_gbs"].get<double>(), 0.1);
    // A probe after each of the 2 tg runs (or one after both where the peak RSS cannot be reset),
    // and the reported fraction is the median of their pairs.
    const auto& bws = j["bandwidth_runs_gbs"];
    const auto& fr = j["roofline_runs"];
    ASSERT_TRUE(bws.size() == 2u || bws.size() == 1u) << bws;
    ASSERT_EQ(fr.size(), bws.size());
    const double mid = fr.size() == 2u ? (fr[0].get<double>() + fr[1].get<double>()) / 2 : fr[0].get<double>();
    EXPECT_NEAR(j["roofline_fraction"].get<double>(), mid, 1e-12);
    // The probes' 2 GiB buffer is not counted as the model's memory.
    EXPECT_LT(j["peak_rss_bytes"].get<double>(), 1024.0 * 1024 * 1024);
    // bytes_per_token counts every linear weight and the head: close to the file's size here.
    EXPECT_GT(j["bytes_per_token"].get<double>(), 0.8 * j["model_file_bytes"].get<double>());
    // Every timed token's latency, for spotting slow-token bursts.
    EXPECT_EQ(j["tg"]["samples_ms"].size(), 8u);
    EXPECT_EQ(j["tg"]["n_depth"], 0);
    // How memory was held: the default maps the file; on the CPU, whose plugins all read the
    // head-major cache, the cache is head-major (a GPU session keeps the interleaved one).
    EXPECT_EQ(j["weights"], "mmap");
    EXPECT_EQ(j["kv_layout"], j["device"] == "cpu" ? "head-major" : "interleaved") << j["device"];
    r = sh("bench -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " -t 1 -p 4 -n 2 -r 1 --no-mmap --json");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(nlohmann::json::parse(r.out)["weights"], "read");
}

// -d N: the generated tokens attend to N tokens already in the cache (llama-bench's -d); a depth
// past the context is an error, not a crash.
TEST(Cli, BenchDepth) {
    NEED_ORACLE();
    auto r = sh("bench -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " -t 2 -p 0 -n 4 -r 1 -d 40 --json");
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["tg"]["n_depth"], 40);
    EXPECT_EQ(j["tg"]["samples_ms"].size(), 4u);
    r = sh("bench -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " -t 2 -p 0 -n 4 -r 1 -d 100 -c 64 --json", true);
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.out.find("context"), std::string::npos) << r.out;
}

TEST(Cli, BenchParallelSequences) {
    NEED_ORACLE();
    auto r = sh("bench -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " -t 2 -p 0 -n 4 -r 1 --parallel 3 --json");
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["parallel"]["n_seq"], 3);
    EXPECT_GT(j["parallel"]["tokens_per_s"].get<double>(), 0.0);
    EXPECT_EQ(j["parallel"]["runs"].size(), 1u);
    auto bad = sh("bench -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " --parallel 1", true);
    EXPECT_NE(bad.code, 0);
    EXPECT_NE(bad.out.find("--parallel"), std::string::npos) << bad.out;
}

// --profile: every kernel the model runs appears with its calls per token, the kernels' time
// fits inside the step's, and the matmuls report a streaming rate.
TEST(Cli, BenchProfileAccountsForTheStep) {
    NEED_ORACLE();
    auto r = sh("bench -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " -t 2 -p 8 -n 4 -r 2 --profile --json");
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    for (const char* test : {"tg", "pp"}) {
        SCOPED_TRACE(test);
        const auto& p = j["profile"][test];
        const double total = p["total_ms_per_unit"].get<double>(), kernels = p["kernels_ms_per_unit"].get<double>();
        EXPECT_GT(kernels, 0.0);
        EXPECT_LE(kernels, total * 1.01);
        ASSERT_FALSE(p["rows"].empty());
        double share = 0, ms = 0;
        bool matmul = false, attention = false;
        for (const auto& row : p["rows"]) {
            EXPECT_GT(row["calls_per_unit"].get<double>(), 0.0) << row.dump();
            share += row["share"].get<double>();
            ms += row["ms_per_unit"].get<double>();
            const auto sig = row["signature"].get<std::string>();
            if (sig.rfind("matmul", 0) == 0) {
                matmul = true;
                EXPECT_GT(row["weight_gbs"].get<double>(), 0.0) << row.dump();
            }
            attention = attention || sig.rfind("attention", 0) == 0;
        }
        EXPECT_TRUE(matmul && attention);
        EXPECT_NEAR(ms, kernels, 1e-6 * std::max(1.0, kernels));
        EXPECT_LE(share, 1.01);
    }
    // One attention call per layer per generated token.
    const int32_t layers = 2;
    for (const auto& row : j["profile"]["tg"]["rows"]) {
        if (row["signature"].get<std::string>().rfind("attention", 0) == 0) {
            EXPECT_DOUBLE_EQ(row["calls_per_unit"].get<double>(), double(layers));
        }
    }
}

TEST(Cli, PerplexityIsFiniteAndNearVocabSize) {
    NEED_ORACLE();
    const fs::path dir = bitnet::testing::make_temp_dir("ppl");
    std::ofstream(dir / "t.txt") << "A quiet morning in the harbour, before the boats go out. The gulls are loud.";
    auto r = sh("perplexity -m " + oracle_file("p2-bitnet-tiny-tq2_0.gguf") + " -f " + (dir / "t.txt").string() + " --json");
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    // Random weights give near-uniform predictions: perplexity close to the 3000-token vocabulary.
    EXPECT_GT(j["perplexity"].get<double>(), 1500.0);
    EXPECT_LT(j["perplexity"].get<double>(), 6000.0);
    EXPECT_GT(j["tokens"].get<int>(), 10);
    fs::remove_all(dir);
}

} // namespace

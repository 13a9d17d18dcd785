// The report contract: tune.json's fields and types, a CSV header naming the columns, an HTML page
// with inline SVG and no scripts.
#include "tuning/report.hpp"
#include "tuning_fixture.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace {

using namespace bitnet;

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(TuneReport, JsonCsvAndHtmlKeepTheContract) {
    const auto dir = bitnet::testing::make_temp_dir("tune-report");
    bitnet::testing::TuningEnv env({"fast", "wrong"});
    auto model = bitnet::testing::tiny_model();
    tuning::KernelManager km(*env.router, bitnet::testing::options(dir / "cache", "full"));
    const auto& rep = km.tune(*model, 16, 64);
    tuning::write_reports(rep, dir / "out");

    const auto j = nlohmann::json::parse(slurp(dir / "out" / "tune.json"));
    ASSERT_TRUE(j.at("signatures").is_array());
    ASSERT_EQ(j["signatures"].size(), rep.signatures.size());
    bool saw_rejected = false;
    for (const auto& s : j["signatures"]) {
        EXPECT_TRUE(s.at("op").is_string());
        EXPECT_TRUE(s.at("weight_format").is_string());
        for (const char* f : {"m", "n", "k"}) EXPECT_TRUE(s.at(f).is_number_integer()) << f;
        EXPECT_TRUE(s.at("winner").at("plugin").is_string());
        EXPECT_TRUE(s.at("winner").at("kernel").is_string());
        for (const auto& c : s.at("candidates")) {
            EXPECT_TRUE(c.at("plugin").is_string());
            EXPECT_TRUE(c.at("kernel").is_string());
            const auto st = c.at("status").get<std::string>();
            EXPECT_TRUE(st == "ok" || st == "rejected") << st;
            saw_rejected |= st == "rejected";
            EXPECT_TRUE(c.at("reason").is_string());
            EXPECT_TRUE(c.at("median_us").is_number());
            EXPECT_TRUE(c.at("mad_us").is_number());
        }
    }
    EXPECT_TRUE(saw_rejected);

    const std::string csv = slurp(dir / "out" / "tune.csv");
    EXPECT_EQ(csv.rfind("marker,stage,op,weight_format,act_type,m,n,k,", 0), 0u);
    EXPECT_NE(csv.find("bitnet_verbose,tune,matmul,i2_s,i8row,"), std::string::npos);

    const std::string html = slurp(dir / "out" / "tune.html");
    EXPECT_NE(html.find("<svg"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg")); // the SVG namespace only

    const std::string table = tuning::format_table(rep);
    EXPECT_NE(table.find("winner: "), std::string::npos);
    EXPECT_NE(table.find("rejected"), std::string::npos);
    std::filesystem::remove_all(dir);
}

} // namespace

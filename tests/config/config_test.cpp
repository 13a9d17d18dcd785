#include "config/config.hpp"

#include <gtest/gtest.h>

using bitnet::ConfigError;
using bitnet::parse_config;

namespace {

// Asserts that parsing fails and the message carries every expected fragment.
void expect_error(const std::string& yaml, std::initializer_list<std::string> fragments) {
    try {
        parse_config(yaml, "t.yaml");
        ADD_FAILURE() << "no error for:\n" << yaml;
    } catch (const ConfigError& e) {
        const std::string msg = e.what();
        for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "message: " << msg << "\nmissing: " << f;
    }
}

} // namespace

TEST(Config, ShippedDefaultParses) {
    auto c = bitnet::load_config(BITNET_DEFAULT_CONFIG);
    EXPECT_EQ(c.threads, 0);
    EXPECT_EQ(c.autotune.mode, "cache");
    EXPECT_FLOAT_EQ(c.sampling.top_p, 0.95f);
}

TEST(Config, UseMmapIsABoolean) {
    EXPECT_TRUE(bitnet::load_config(BITNET_DEFAULT_CONFIG).use_mmap);
    EXPECT_FALSE(parse_config("use_mmap: false\n", "t.yaml").use_mmap);
    expect_error("use_mmap: sometimes\n", {"t.yaml", "use_mmap", "true or false"});
    EXPECT_TRUE(bitnet::load_config(BITNET_DEFAULT_CONFIG).mmap_huge_pages);
    EXPECT_FALSE(parse_config("mmap_huge_pages: false\n", "t.yaml").mmap_huge_pages);
    expect_error("mmap_huge_pages: 2\n", {"t.yaml", "mmap_huge_pages", "true or false"});
}

TEST(Config, ValuesAreRead) {
    auto c = parse_config("threads: 3\nplugins:\n  search_paths: [/a, /b]\n  disable: [avx512]\n"
                          "sampling:\n  temperature: 0\n  top_k: 7\n  seed: 42\n"
                          "autotune:\n  mode: off\n  pin: {matmul: scalar}\ncontext_length: 2048\n", "t.yaml");
    EXPECT_EQ(c.threads, 3);
    ASSERT_EQ(c.plugin_search_paths.size(), 2u);
    EXPECT_EQ(c.plugin_search_paths[1], "/b");
    EXPECT_EQ(c.plugin_disable.at(0), "avx512");
    EXPECT_EQ(c.sampling.temperature, 0.0f);
    EXPECT_EQ(c.sampling.top_k, 7);
    EXPECT_EQ(c.sampling.seed, 42);
    EXPECT_EQ(c.autotune.mode, "off");
    EXPECT_EQ(c.autotune.pin.at("matmul"), "scalar");
    EXPECT_EQ(c.context_length, 2048);
}

TEST(Config, EmptyDocumentGivesDefaults) {
    auto c = parse_config("", "t.yaml");
    EXPECT_EQ(c.sampling.top_k, 40);
}

TEST(Config, UnknownKeyNamesKeyAndLine) {
    expect_error("threads: 2\nsampling:\n  temprature: 0.5\n", {"t.yaml:3", "sampling.temprature", "unknown key", "temperature"});
    expect_error("modle: x.gguf\n", {"t.yaml:1", "'modle'", "unknown key"});
}

TEST(Config, WrongTypeNamesExpectation) {
    expect_error("threads: many\n", {"t.yaml:1", "'threads'", "expected an integer", "many"});
    expect_error("sampling:\n  top_p: [1]\n", {"t.yaml:2", "sampling.top_p", "expected a number"});
    expect_error("plugins:\n  search_paths: /single/string\n", {"t.yaml:2", "plugins.search_paths", "list of strings"});
    expect_error("sampling: 3\n", {"t.yaml:1", "'sampling'", "expected a mapping"});
}

TEST(Config, OutOfRangeNamesBounds) {
    expect_error("\n\nthreads: -4\n", {"t.yaml:3", "'threads'", "[0, 1024]", "-4"});
    expect_error("sampling:\n  top_p: 1.5\n", {"t.yaml:2", "sampling.top_p", "[0, 1]"});
    expect_error("autotune:\n  mode: fastest\n", {"t.yaml:2", "autotune.mode", "full, cache, off", "fastest"});
}

TEST(Config, SyntaxErrorHasLine) {
    expect_error("threads: 2\nsampling: {top_k: 3\n", {"t.yaml:", "YAML syntax error"});
}

TEST(Config, MissingFileIsAClearError) {
    EXPECT_THROW(bitnet::load_config("/nonexistent/bitnet.yaml"), ConfigError);
}

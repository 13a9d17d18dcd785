#include "plugin/plugin_registry.hpp"
#include "core/thread_pool.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace fs = std::filesystem;
using bitnet::PluginRecord;
using bitnet::PluginRegistry;
using bitnet::ThreadPool;

namespace {

const PluginRecord* record_named(const PluginRegistry& reg, const std::string& name) {
    for (const auto& r : reg.records())
        if (r.name == name) return &r;
    return nullptr;
}

// A folder holding the test plugins plus files that are not plugins at all.
fs::path make_plugin_folder() {
    fs::path dir = bitnet::testing::make_temp_dir("plugins");
    for (const auto& e : fs::directory_iterator(TEST_PLUGIN_DIR))
        fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
    std::ofstream(dir / "libbitnet-garbage.so") << "this is not an ELF shared object\n";
    std::ofstream(dir / "libbitnet-empty.so");
    std::ofstream(dir / "README.txt") << "ignored: not a .so\n";
    return dir;
}

class PluginLoaderTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = make_plugin_folder();
        reg_.discover({{dir_, "test"}});
    }
    void TearDown() override { fs::remove_all(dir_); }
    void expect_refused(const std::string& name, const std::string& reason_part) {
        const PluginRecord* r = record_named(reg_, name);
        ASSERT_NE(r, nullptr) << "no record for " << name;
        EXPECT_FALSE(r->loaded) << name;
        EXPECT_NE(r->reason.find(reason_part), std::string::npos)
            << name << ": reason '" << r->reason << "' lacks '" << reason_part << "'";
    }
    ThreadPool pool_{2};
    PluginRegistry reg_{&pool_};
    fs::path dir_;
};

TEST_F(PluginLoaderTest, GoodPluginLoadsWithItsKernels) {
    const PluginRecord* r = record_named(reg_, "test-good");
    ASSERT_NE(r, nullptr);
    EXPECT_TRUE(r->loaded) << r->reason;
    EXPECT_EQ(r->version, "0.0.1");
    EXPECT_EQ(r->kernels, 1u);
    const auto* p = reg_.find("test-good");
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(p->kernels().size(), 1u);
    // The kernel actually runs through the ABI.
    float x[3] = {1, 2, 3}, y[3] = {10, 20, 30};
    bitnet_add_args a{sizeof(bitnet_add_args), 1, 3, x, 3, y, 3};
    EXPECT_EQ(p->kernels()[0]->run(p->instance(), &a, nullptr), BITNET_OK);
    EXPECT_FLOAT_EQ(y[2], 33.0f);
}

TEST_F(PluginLoaderTest, NewerMinorAbiStillLoads) {
    const PluginRecord* r = record_named(reg_, "test-newer-minor");
    ASSERT_NE(r, nullptr);
    EXPECT_TRUE(r->loaded) << r->reason;
}

// A plugin's kernel table is read at its entries' stride, whatever the host's own sizeof: ABI 1.4
// grew bitnet_kernel_desc, so a 1.3 plugin's entries are smaller (the members it lacks read as
// zero) and a later minor's may be larger.
void expect_three_add_kernels(const PluginRegistry& reg, const std::string& plugin, const std::string& prefix,
                              bool older) {
    SCOPED_TRACE(plugin);
    const PluginRecord* r = record_named(reg, plugin);
    ASSERT_NE(r, nullptr);
    ASSERT_TRUE(r->loaded) << r->reason;
    const auto* p = reg.find(plugin);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(p->kernels().size(), 3u);
    for (int i = 0; i < 3; ++i) {
        const bitnet_kernel_desc& k = *p->kernels()[size_t(i)];
        EXPECT_EQ(std::string(k.name), prefix + std::to_string(i));
        EXPECT_EQ(k.m_min, i + 1);
        if (older) EXPECT_LT(k.struct_size, sizeof(bitnet_kernel_desc));
        else EXPECT_GT(k.struct_size, sizeof(bitnet_kernel_desc));
        EXPECT_EQ(BITNET_HAS_MEMBER(&k, bitnet_kernel_desc, flags), !older);
        EXPECT_EQ(k.flags, 0u);
        float x[2] = {1, 2}, y[2] = {10, 20};
        bitnet_add_args a{sizeof(bitnet_add_args), 1, 2, x, 2, y, 2};
        EXPECT_EQ(k.run(p->instance(), &a, nullptr), BITNET_OK);
        EXPECT_FLOAT_EQ(y[1], 22.0f);
    }
}
TEST_F(PluginLoaderTest, KernelTablesAreReadAtTheirOwnStride) {
    expect_three_add_kernels(reg_, "test-older-minor", "add_f32__old", true);
    expect_three_add_kernels(reg_, "test-future-minor", "add_f32__new", false);
}

TEST_F(PluginLoaderTest, WrongAbiMajorIsRefused) { expect_refused("test-bad-abi", "ABI version mismatch: plugin built for ABI 99.0"); }
TEST_F(PluginLoaderTest, MissingEntrySymbolIsRefused) { expect_refused("test-no-entry", "missing entry symbol bitnet_plugin_entry"); }
TEST_F(PluginLoaderTest, ProbeUnsupportedIsRefusedWithItsReason) {
    expect_refused("test-unsupported", "unsupported on this machine: needs the imaginary ISA 'frobnicate'");
}
TEST_F(PluginLoaderTest, CreateFailureIsRefused) { expect_refused("test-create-fails", "create failed: device error"); }
TEST_F(PluginLoaderTest, NotASharedObjectIsALoadError) {
    expect_refused("garbage", "load error");
    expect_refused("empty", "load error");
}
TEST_F(PluginLoaderTest, NonSoFilesAreIgnored) { EXPECT_EQ(record_named(reg_, "README"), nullptr); }

TEST_F(PluginLoaderTest, DuplicateNameIsRefused) {
    reg_.load(dir_ / "libbitnet-test-good.so");
    ASSERT_GE(reg_.records().size(), 2u);
    const auto& last = reg_.records().back();
    EXPECT_FALSE(last.loaded);
    EXPECT_NE(last.reason.find("duplicate plugin name"), std::string::npos) << last.reason;
}

TEST(PluginLoader, DisabledPluginIsRefused) {
    ThreadPool pool(1);
    PluginRegistry reg(&pool);
    reg.discover({{TEST_PLUGIN_DIR, "test"}}, {"test-good"});
    const PluginRecord* r = record_named(reg, "test-good");
    ASSERT_NE(r, nullptr);
    EXPECT_FALSE(r->loaded);
    EXPECT_NE(r->reason.find("disabled"), std::string::npos);
}

TEST(PluginLoader, ScalarPluginFromBuildTreeLoads) {
    ThreadPool pool(1);
    PluginRegistry reg(&pool);
    reg.discover({{bitnet::testing::build_plugin_dir(), "build"}});
    const PluginRecord* r = record_named(reg, "scalar");
    ASSERT_NE(r, nullptr) << "scalar plugin not built into " << bitnet::testing::build_plugin_dir();
    EXPECT_TRUE(r->loaded) << r->reason;
    EXPECT_GT(r->kernels, 10u);
}

TEST(PluginLoader, MissingFolderIsNotAnError) {
    ThreadPool pool(1);
    PluginRegistry reg(&pool);
    reg.discover({{"/nonexistent/bitnet/plugins", "test"}});
    EXPECT_TRUE(reg.records().empty());
}

} // namespace

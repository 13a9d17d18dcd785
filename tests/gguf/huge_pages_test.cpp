// File::adopt_huge_pages: a mapped file's page cache re-read in 2 MiB pages, bytes unchanged.
#include "gguf/gguf.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <vector>

namespace gg = bitnet::gguf;
using bitnet::formats::GgmlType;

namespace {

class GgufHugePages : public ::testing::Test {
protected:
    void SetUp() override { dir_ = bitnet::testing::make_temp_dir("gguf-huge"); }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // One F16 tensor of rows x 4096 halves filled with a position-dependent pattern.
    std::filesystem::path write(const char* name, int64_t rows) {
        std::vector<uint8_t> bytes(static_cast<size_t>(rows) * 4096 * 2);
        for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
        gg::Writer w;
        w.set_str("general.architecture", "test");
        w.add_tensor("t", {4096, rows}, GgmlType::F16, std::move(bytes));
        const auto path = dir_ / name;
        w.write(path);
        return path;
    }
    static uint64_t checksum(const gg::TensorInfo& t) {
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < t.size; ++i) h = (h ^ t.data[i]) * 1099511628211ull;
        return h;
    }
    std::filesystem::path dir_;
};

} // namespace

TEST_F(GgufHugePages, SmallFilesAndMemoryCopiesAreLeftAlone) {
    const auto path = write("small.gguf", 16); // 128 KiB
    const auto mapped = gg::File::open(path, gg::File::Load::map);
    const auto r = mapped->adopt_huge_pages();
    EXPECT_FALSE(r.huge);
    EXPECT_FALSE(r.reread);
    EXPECT_EQ(r.note, "file under 64 MiB");
    const auto read = gg::File::open(path, gg::File::Load::read);
    EXPECT_FALSE(read->adopt_huge_pages().reread);
    EXPECT_EQ(read->huge_mapped_bytes(), 0u);
}

TEST_F(GgufHugePages, RereadsTheCacheIn2MiBPagesKeepingEveryByte) {
    const auto path = write("big.gguf", 9216); // 72 MiB
    // The expected bytes come from a copy read with pread, so the mapping is untouched until
    // adopt_huge_pages samples it.
    const uint64_t before = checksum(gg::File::open(path, gg::File::Load::read)->tensor("t"));
    const auto f = gg::File::open(path, gg::File::Load::map);
    const auto& t = f->tensor("t");
    const auto r = f->adopt_huge_pages();
    ASSERT_FALSE(r.note.empty());
    EXPECT_NE(r.note, "mapping not 2 MiB aligned"); // Load::map places the file at a 2 MiB boundary
    // The bytes are the file's either way, re-read from disk if the cache was dropped.
    EXPECT_EQ(checksum(t), before);
    if (!r.huge) GTEST_SKIP() << "this kernel or file system keeps the file in 4 KiB pages: " << r.note;
    // Every 2 MiB span wholly inside the file can now be one page; the checksum touched them all.
    EXPECT_GT(f->huge_mapped_bytes(), f->file_size() / 2) << r.note;
    // The next open finds the cache as this one left it, and reads nothing again.
    const auto again = gg::File::open(path, gg::File::Load::map)->adopt_huge_pages();
    EXPECT_TRUE(again.huge) << again.note;
    EXPECT_FALSE(again.reread) << again.note;
}

// Getting a mapped model file into 2 MiB pages (File::adopt_huge_pages). Linux maps a file's page
// cache folio by folio: a 2 MiB folio at a 2 MiB-aligned address takes one PMD entry, a 4 KiB one
// a PTE. Which folios the cache holds is fixed when the file is read in: the write path of a
// fresh download or copy leaves 4 KiB folios, while a fault in a MADV_HUGEPAGE mapping of an
// uncached file reads ahead in 2 MiB folios (file systems with large folios: ext4 and XFS on
// recent kernels, tmpfs with huge=). Dropping the cache once turns the first kind into the second,
// and the folios stay so until memory pressure evicts them.
#include "gguf/gguf.hpp"

#include "core/huge_region.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

namespace bitnet::gguf {
namespace {

constexpr size_t kHuge = kHugePageBytes;
constexpr size_t kMinFile = size_t{64} << 20; // below this the TLB saving is noise
constexpr size_t kSamples = 16;

// Resident bytes and bytes mapped as 2 MiB pages (Rss, FilePmdMapped) of the mapping that starts
// at `start`, from /proc/self/smaps; zeros if it is not there.
struct VmaPages {
    size_t rss = 0, pmd = 0;
};
VmaPages vma_pages(const void* start) {
    std::ifstream in("/proc/self/smaps");
    char head[32];
    std::snprintf(head, sizeof head, "%lx-", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(start)));
    VmaPages v;
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        // A mapping's header is "start-end perms ...": hex, a dash, no colon before it.
        const size_t dash = line.find('-');
        const bool header = !line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
                            dash != std::string::npos && line.find(':') > dash;
        if (header) {
            if (inside) break;
            inside = line.rfind(head, 0) == 0;
        } else if (inside && line.rfind("Rss:", 0) == 0) {
            v.rss = std::stoull(line.substr(4)) * 1024;
        } else if (inside && line.rfind("FilePmdMapped:", 0) == 0) {
            v.pmd = std::stoull(line.substr(14)) * 1024;
        }
    }
    return v;
}

bool thp_disabled() {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string s;
    std::getline(in, s);
    return !in || s.find("[never]") != std::string::npos;
}

} // namespace

size_t File::huge_mapped_bytes() const { return mapped_ ? vma_pages(mapping_).pmd : 0; }

File::HugePages File::adopt_huge_pages() const {
    HugePages r;
    auto done = [&r](std::string note) {
        r.note = std::move(note);
        return r;
    };
    if (!mapped_) return done("weights read into memory (Load::read)");
    if (size_ < kMinFile) return done("file under 64 MiB");
    if (reinterpret_cast<uintptr_t>(base_) % kHuge != 0) return done("mapping not 2 MiB aligned");
    if (thp_disabled()) return done("transparent huge pages are off (/sys/kernel/mm/transparent_hugepage/enabled)");
    // kSamples 2 MiB spans spread over the file stand for the rest (the cache can be mixed: a
    // file read in 2 MiB folios and partly evicted and re-read since). A span is touched with the
    // mapping's counters read around it: resident bytes that grow by a PMD's worth are one 2 MiB
    // page, any smaller growth 4 KiB pages, no growth a span already mapped (not counted).
    struct Tally {
        int huge = 0, small = 0;
    };
    auto sample = [&] {
        Tally t;
        const size_t spans = size_ / kHuge;
        VmaPages before = vma_pages(mapping_); // one span's "after" is the next one's "before"
        for (size_t i = 0; i < kSamples && spans > 0; ++i) {
            const size_t at = (2 * i + 1) * spans / (2 * kSamples) * kHuge;
            const volatile uint8_t* p = base_ + at;
            (void)*p;
            const VmaPages after = vma_pages(mapping_);
            if (after.rss != before.rss) ++(after.pmd > before.pmd ? t.huge : t.small);
            before = after;
        }
        return t;
    };
    auto tally_note = [](const Tally& t) {
        return " (" + std::to_string(t.huge) + " of " + std::to_string(t.huge + t.small) + " sampled 2 MiB spans)";
    };
    try {
        Tally first = sample();
        if (first.huge + first.small == 0) {
            // Every sampled span was mapped before: judge by the whole mapping instead.
            const VmaPages v = vma_pages(mapping_);
            ++(2 * v.pmd >= v.rss ? first.huge : first.small);
        }
        if (first.small == 0) {
            r.huge = true;
            return done("page cache already in 2 MiB pages" + tally_note(first));
        }
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st {};
        if (fd < 0 || ::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_dev) != dev_ ||
            static_cast<uint64_t>(st.st_ino) != ino_ || static_cast<size_t>(st.st_size) != size_) {
            if (fd >= 0) ::close(fd);
            return done("the file changed since it was opened; left as it was" + tally_note(first));
        }
        // Our own mapping pins the cache's pages; dirty pages (a file just written) cannot be
        // dropped until they are on disk.
        ::madvise(mapping_, mapping_size_, MADV_DONTNEED);
        ::fdatasync(fd);
        const int adv = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
        if (adv != 0) return done(std::string("posix_fadvise: ") + std::strerror(adv));
        r.reread = true;
        const Tally then = sample();
        r.huge = then.small == 0 && then.huge > 0;
        r.note = (r.huge ? "page cache re-read in 2 MiB pages"
                         : "page cache re-read, but this kernel or file system keeps (part of) the file in 4 KiB "
                           "pages (another process mapping it, or no large folios)") +
                 tally_note(then);
    } catch (const std::exception& e) { // smaps parsing; nothing here is worth failing a load for
        r.note = std::string("could not check the mapping: ") + e.what();
    }
    return r;
}

} // namespace bitnet::gguf

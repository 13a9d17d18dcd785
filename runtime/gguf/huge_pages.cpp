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

// FilePmdMapped of the mapping that starts at `start`, from /proc/self/smaps (bytes; 0 if absent).
size_t pmd_mapped_bytes(const void* start) {
    std::ifstream in("/proc/self/smaps");
    char head[32];
    std::snprintf(head, sizeof head, "%lx-", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(start)));
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        const bool header = !line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
                            line.find('-') != std::string::npos && line.find(':') > line.find('-');
        if (header) {
            if (inside) return 0;
            inside = line.rfind(head, 0) == 0;
        } else if (inside && line.rfind("FilePmdMapped:", 0) == 0) {
            return std::stoull(line.substr(14)) * 1024;
        }
    }
    return 0;
}

bool thp_disabled() {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string s;
    std::getline(in, s);
    return !in || s.find("[never]") != std::string::npos;
}

} // namespace

size_t File::huge_mapped_bytes() const { return mapped_ ? pmd_mapped_bytes(mapping_) : 0; }

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
    // One 2 MiB span in the middle of the file stands for the rest: the cache's folios are all of
    // one kind unless part of it was read in another way.
    const size_t probe = size_ / 2 / kHuge * kHuge;
    auto sample = [&] {
        const volatile uint8_t* p = base_ + probe;
        (void)*p;
        return pmd_mapped_bytes(mapping_) > 0;
    };
    try {
        if ((r.huge = sample())) return done("page cache already in 2 MiB pages");
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st {};
        if (fd < 0 || ::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_dev) != dev_ ||
            static_cast<uint64_t>(st.st_ino) != ino_ || static_cast<size_t>(st.st_size) != size_) {
            if (fd >= 0) ::close(fd);
            return done("the file changed since it was opened; left in 4 KiB pages");
        }
        // Our own mapping pins the cache's pages; dirty pages (a file just written) cannot be
        // dropped until they are on disk.
        ::madvise(mapping_, mapping_size_, MADV_DONTNEED);
        ::fdatasync(fd);
        const int adv = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
        if (adv != 0) return done(std::string("posix_fadvise: ") + std::strerror(adv));
        r.reread = true;
        r.huge = sample();
        r.note = r.huge ? "page cache re-read in 2 MiB pages"
                        : "page cache re-read, but this kernel or file system keeps the file in 4 KiB pages "
                          "(another process mapping it, or no large folios)";
    } catch (const std::exception& e) { // smaps parsing; nothing here is worth failing a load for
        r.note = std::string("could not check the mapping: ") + e.what();
    }
    return r;
}

} // namespace bitnet::gguf

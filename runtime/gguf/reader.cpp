// GGUF reader. The file is mapped read-only and every field is bounds-checked before it is used:
// counts and lengths are compared with the bytes that remain before anything is allocated, so a
// hostile file costs at most a small constant factor of its own size in memory.
#include "gguf/gguf.hpp"

#include "core/huge_region.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <string>

namespace bitnet::gguf {
namespace {

constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxElements = uint64_t{1} << 40; // far above any real tensor, far below overflow
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;
constexpr int kMaxArrayDepth = 8;                     // bounds recursion on nested arrays
constexpr size_t kMinKvBytes = 8 + 4 + 1;             // empty key, type, smallest value
constexpr size_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8; // empty name, n_dims, one dim, type, offset

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::FLOAT64); }

// Smallest encoding of one value of type t: used to reject array counts before allocating.
size_t min_value_bytes(ValueType t) {
    switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 4 + 8;
    }
    return 1;
}

} // namespace

// Walks the mapping once, filling the File. Every failure names the file and what was being read.
class Parser {
public:
    explicit Parser(File& f) : f_(f) {}

    void run() {
        header();
        for (uint64_t i = 0; i < n_kv_; ++i) key_value(i);
        alignment();
        for (uint64_t i = 0; i < n_tensors_; ++i) tensor_info(i);
        place_tensors();
    }

private:
    File& f_;
    size_t pos_ = 0;
    std::string ctx_ = "header";
    uint64_t n_kv_ = 0, n_tensors_ = 0;

    size_t remaining() const { return f_.size_ - pos_; }

    [[noreturn]] void fail(const std::string& what) const {
        throw GgufError(f_.path_.string() + ": " + ctx_ + ": " + what);
    }

    const uint8_t* take(size_t n, const char* what) {
        if (n > remaining())
            fail(std::string("truncated file: ") + what + " needs " + std::to_string(n) +
                 " bytes at offset " + std::to_string(pos_) + ", " + std::to_string(remaining()) +
                 " left");
        const uint8_t* p = f_.base_ + pos_;
        pos_ += n;
        return p;
    }

    template <class T> T read(const char* what) {
        T v;
        std::memcpy(&v, take(sizeof(T), what), sizeof(T));
        return v;
    }

    std::string read_string(const char* what) {
        const auto len = read<uint64_t>(what);
        if (len > remaining())
            fail(std::string(what) + " length " + std::to_string(len) + " exceeds the " +
                 std::to_string(remaining()) + " bytes left in the file");
        const auto* p = reinterpret_cast<const char*>(take(static_cast<size_t>(len), what));
        return std::string(p, static_cast<size_t>(len));
    }

    void header() {
        const uint8_t* magic = take(4, "magic");
        if (std::memcmp(magic, "GGUF", 4) != 0) fail("bad magic (not a GGUF file)");
        const auto version = read<uint32_t>("version");
        if (version == 1) fail("GGUF version 1 is not supported (only versions 2 and 3)");
        if (version != 2 && version != 3) {
            const uint32_t swapped = __builtin_bswap32(version);
            if (swapped == 2 || swapped == 3) fail("big-endian GGUF files are not supported");
            fail("unknown GGUF version " + std::to_string(version));
        }
        f_.version_ = version;
        n_tensors_ = read<uint64_t>("tensor count");
        n_kv_ = read<uint64_t>("metadata count");
        if (n_kv_ > remaining() / kMinKvBytes)
            fail("metadata count " + std::to_string(n_kv_) + " cannot fit in the file");
        if (n_tensors_ > remaining() / kMinTensorInfoBytes)
            fail("tensor count " + std::to_string(n_tensors_) + " cannot fit in the file");
        f_.kv_.reserve(static_cast<size_t>(n_kv_));
        f_.tensors_.reserve(static_cast<size_t>(n_tensors_));
    }

    ValueType read_type(const char* what) {
        const auto t = read<uint32_t>(what);
        if (!valid_value_type(t)) fail("unknown value type " + std::to_string(t));
        return static_cast<ValueType>(t);
    }

    Value read_value(ValueType t, int depth) {
        Value out;
        out.type = t;
        switch (t) {
        case ValueType::UINT8: out.v = uint64_t{read<uint8_t>("uint8 value")}; break;
        case ValueType::INT8: out.v = int64_t{read<int8_t>("int8 value")}; break;
        case ValueType::UINT16: out.v = uint64_t{read<uint16_t>("uint16 value")}; break;
        case ValueType::INT16: out.v = int64_t{read<int16_t>("int16 value")}; break;
        case ValueType::UINT32: out.v = uint64_t{read<uint32_t>("uint32 value")}; break;
        case ValueType::INT32: out.v = int64_t{read<int32_t>("int32 value")}; break;
        case ValueType::UINT64: out.v = read<uint64_t>("uint64 value"); break;
        case ValueType::INT64: out.v = read<int64_t>("int64 value"); break;
        case ValueType::FLOAT32: out.v = double{read<float>("float32 value")}; break;
        case ValueType::FLOAT64: out.v = read<double>("float64 value"); break;
        case ValueType::BOOL: {
            const auto b = read<uint8_t>("bool value");
            if (b > 1) fail("bool value " + std::to_string(b) + " is neither 0 nor 1");
            out.v = b == 1;
            break;
        }
        case ValueType::STRING: out.v = read_string("string value"); break;
        case ValueType::ARRAY: {
            if (depth >= kMaxArrayDepth)
                fail("arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels");
            Array arr;
            arr.elem_type = read_type("array element type");
            const auto count = read<uint64_t>("array count");
            if (count > remaining() / min_value_bytes(arr.elem_type))
                fail("array count " + std::to_string(count) + " of " +
                     std::string(value_type_name(arr.elem_type)) + " exceeds the " +
                     std::to_string(remaining()) + " bytes left in the file");
            arr.items.reserve(static_cast<size_t>(count));
            for (uint64_t i = 0; i < count; ++i) arr.items.push_back(read_value(arr.elem_type, depth + 1));
            out.v = std::move(arr);
            break;
        }
        }
        return out;
    }

    void key_value(uint64_t index) {
        ctx_ = "metadata entry #" + std::to_string(index);
        std::string key = read_string("key");
        ctx_ = "key '" + key + "'";
        if (f_.kv_index_.count(key) != 0) fail("duplicate key");
        const ValueType t = read_type("value type");
        Value v = read_value(t, 0);
        f_.kv_index_.emplace(key, f_.kv_.size());
        f_.kv_.emplace_back(std::move(key), std::move(v));
    }

    void alignment() {
        ctx_ = "key 'general.alignment'";
        const auto it = f_.kv_index_.find("general.alignment");
        if (it == f_.kv_index_.end()) return;
        const Value& v = f_.kv_[it->second].second;
        if (std::holds_alternative<double>(v.v) || std::holds_alternative<bool>(v.v) ||
            std::holds_alternative<std::string>(v.v) || std::holds_alternative<Array>(v.v))
            fail("expected an unsigned integer, found " + std::string(value_type_name(v.type)));
        const bool negative = std::holds_alternative<int64_t>(v.v) && std::get<int64_t>(v.v) < 0;
        const uint64_t a = negative ? 0 : v.as_uint();
        if (negative || a == 0 || (a & (a - 1)) != 0 || a > kMaxAlignment)
            fail("alignment must be a nonzero power of two up to 2^30, found " +
                 (negative ? std::to_string(std::get<int64_t>(v.v)) : std::to_string(a)));
        f_.alignment_ = a;
    }

    void tensor_info(uint64_t index) {
        ctx_ = "tensor #" + std::to_string(index);
        TensorInfo t;
        t.name = read_string("tensor name");
        ctx_ = "tensor '" + t.name + "'";
        if (f_.tensor_index_.count(t.name) != 0) fail("duplicate tensor name");
        const auto n_dims = read<uint32_t>("n_dims");
        if (n_dims == 0 || n_dims > kMaxDims)
            fail("n_dims " + std::to_string(n_dims) + " is outside 1.." + std::to_string(kMaxDims));
        uint64_t elements = 1;
        for (uint32_t i = 0; i < n_dims; ++i) {
            const auto d = read<uint64_t>("dimension");
            if (d == 0) fail("dimension " + std::to_string(i) + " is 0");
            if (d > static_cast<uint64_t>(INT64_MAX))
                fail("dimension " + std::to_string(i) + " is negative (" +
                     std::to_string(static_cast<int64_t>(d)) + ")");
            if (d > kMaxElements || __builtin_mul_overflow(elements, d, &elements) || elements > kMaxElements)
                fail("more than 2^40 elements (dimension " + std::to_string(i) + " = " +
                     std::to_string(d) + ")");
            t.dims.push_back(static_cast<int64_t>(d));
        }
        const auto type_id = read<uint32_t>("tensor type");
        const formats::TypeInfo* ti = formats::type_info(type_id);
        if (ti == nullptr) fail("unknown tensor type " + std::to_string(type_id));
        t.type = ti->type;
        if (t.row_len() % ti->block_elems != 0)
            fail("row length " + std::to_string(t.row_len()) + " is not a multiple of " +
                 std::string(ti->name) + "'s block of " + std::to_string(ti->block_elems));
        const std::optional<size_t> bytes = formats::tensor_bytes(t.type, t.row_len(), t.n_rows());
        if (!bytes) fail("size overflows");
        t.size = *bytes;
        t.offset = read<uint64_t>("tensor offset");
        if (t.offset % f_.alignment_ != 0)
            fail("offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                 std::to_string(f_.alignment_));
        f_.tensor_index_.emplace(t.name, f_.tensors_.size());
        f_.tensors_.push_back(std::move(t));
    }

    void place_tensors() {
        ctx_ = "data section";
        if (f_.tensors_.empty()) return;
        uint64_t data_start = 0;
        if (__builtin_add_overflow(uint64_t{pos_}, f_.alignment_ - 1, &data_start)) fail("offset overflows");
        data_start -= data_start % f_.alignment_;
        for (TensorInfo& t : f_.tensors_) {
            ctx_ = "tensor '" + t.name + "'";
            uint64_t begin = 0, end = 0;
            if (__builtin_add_overflow(data_start, t.offset, &begin) ||
                __builtin_add_overflow(begin, uint64_t{t.size}, &end) || end > f_.size_)
                fail("data at offset " + std::to_string(t.offset) + " (" + std::to_string(t.size) +
                     " bytes after the data section at " + std::to_string(data_start) +
                     ") extends past the end of the " + std::to_string(f_.size_) + "-byte file");
            t.data = f_.base_ + begin;
        }
        std::vector<size_t> order(f_.tensors_.size());
        std::iota(order.begin(), order.end(), size_t{0});
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return f_.tensors_[a].offset < f_.tensors_[b].offset;
        });
        for (size_t i = 1; i < order.size(); ++i) {
            const TensorInfo& prev = f_.tensors_[order[i - 1]];
            const TensorInfo& cur = f_.tensors_[order[i]];
            if (prev.offset + prev.size > cur.offset) {
                ctx_ = "tensor '" + cur.name + "'";
                fail("data overlaps tensor '" + prev.name + "'");
            }
        }
    }
};

namespace {

// The file's bytes in fresh anonymous memory at a 2 MiB boundary, advised for huge pages, then
// read-only. Returns the mapping (start, length) through the out parameters; throws on error.
const uint8_t* read_into_memory(const std::filesystem::path& path, int fd, size_t size, void** mapping,
                                size_t* mapping_size) {
    const HugeRegion region = map_huge_region(size);
    if (region.mapping == nullptr) throw GgufError(path.string() + ": cannot allocate " + std::to_string(size >> 20) + " MiB for the weights: " + std::strerror(errno));
    void* const raw = region.mapping;
    const size_t len = region.length;
    *mapping = raw;
    *mapping_size = len;
    uint8_t* const base = region.data;
    for (size_t off = 0; off < size;) {
        const ssize_t n = ::pread(fd, base + off, std::min<size_t>(size - off, size_t{1} << 30), static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const std::string why = n < 0 ? std::strerror(errno) : "the file shrank while being read";
            ::munmap(raw, len);
            *mapping = nullptr;
            throw GgufError(path.string() + ": cannot read: " + why);
        }
        off += static_cast<size_t>(n);
    }
    ::mprotect(raw, len, PROT_READ);
    return base;
}

// The file mapped read-only with offset 0 at a 2 MiB boundary, so every 2 MiB folio of its page
// cache can take one PMD entry; advised for huge pages (faults then read ahead in 2 MiB folios
// where the file system supports them). Falls back to a plain mapping; MAP_FAILED + errno on error.
void* map_file_aligned(int fd, size_t size) {
    constexpr size_t kHuge = kHugePageBytes;
    void* p = MAP_FAILED;
    void* room = ::mmap(nullptr, size + kHuge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (room != MAP_FAILED) {
        const auto lo = reinterpret_cast<uintptr_t>(room), hi = lo + size + kHuge;
        const uintptr_t at = (lo + kHuge - 1) / kHuge * kHuge;
        p = ::mmap(reinterpret_cast<void*>(at), size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
        if (p == MAP_FAILED) {
            ::munmap(room, size + kHuge);
        } else {
            // Give back the reservation around the mapping (page-aligned ends).
            const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
            const uintptr_t end = (at + size + page - 1) / page * page;
            if (at > lo) ::munmap(room, at - lo);
            if (hi > end) ::munmap(reinterpret_cast<void*>(end), hi - end);
        }
    }
    if (p == MAP_FAILED) p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) ::madvise(p, size, MADV_HUGEPAGE); // advice only
    return p;
}

} // namespace

std::unique_ptr<File> File::open(const std::filesystem::path& path, Load load) {
    std::unique_ptr<File> f(new File());
    f->path_ = path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw GgufError(path.string() + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw GgufError(path.string() + ": not a regular file");
    }
    if (st.st_size == 0) {
        ::close(fd);
        throw GgufError(path.string() + ": header: truncated file: empty");
    }
    const size_t size = static_cast<size_t>(st.st_size);
    if (load == Load::read) {
        try {
            f->base_ = read_into_memory(path, fd, size, &f->mapping_, &f->mapping_size_);
        } catch (...) {
            ::close(fd);
            throw;
        }
        ::close(fd);
    } else {
        void* p = map_file_aligned(fd, size);
        const int map_errno = errno;
        ::close(fd); // the mapping keeps the file alive
        if (p == MAP_FAILED) throw GgufError(path.string() + ": cannot mmap: " + std::strerror(map_errno));
        f->mapping_ = p;
        f->mapping_size_ = size;
        f->base_ = static_cast<const uint8_t*>(p);
        f->mapped_ = true;
    }
    f->dev_ = static_cast<uint64_t>(st.st_dev);
    f->ino_ = static_cast<uint64_t>(st.st_ino);
    f->size_ = size;
    Parser(*f).run(); // on failure the unique_ptr unmaps
    return f;
}

File::~File() {
    if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

size_t File::release_pages(const void* p, size_t n) const {
    const auto* c = static_cast<const uint8_t*>(p);
    if (!mapped_ || c < base_ || n > size_ || size_t(c - base_) > size_ - n) return 0;
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t b = (reinterpret_cast<uintptr_t>(c) + page - 1) / page * page;
    const uintptr_t e = (reinterpret_cast<uintptr_t>(c) + n) / page * page;
    if (e <= b) return 0;
    // MAP_PRIVATE and never written: the pages are the file's, so dropping them loses nothing.
    if (::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED) != 0) return 0;
    return e - b;
}

const Value* File::find(std::string_view key) const {
    const auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const Value& File::get(std::string_view key) const {
    if (const Value* v = find(key)) return *v;
    throw GgufError(path_.string() + ": key '" + std::string(key) + "': missing");
}

const TensorInfo* File::find_tensor(std::string_view name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::tensor(std::string_view name) const {
    if (const TensorInfo* t = find_tensor(name)) return *t;
    throw GgufError(path_.string() + ": tensor '" + std::string(name) + "': missing");
}

} // namespace bitnet::gguf

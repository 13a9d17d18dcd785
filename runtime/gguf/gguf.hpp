// GGUF v2/v3 reader (mmap'd, zero-copy, every field validated) and writer.
#pragma once

#include "formats/formats.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace bitnet::gguf {

// Every problem with a file is reported as this, with a message naming the file, the key or
// tensor and what is wrong. Never a crash, never an allocation sized by an unchecked field.
class GgufError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class ValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view value_type_name(ValueType t);

struct Value;
// Arrays keep their element type (an empty array still has one).
struct Array {
    ValueType elem_type = ValueType::UINT8;
    std::vector<Value> items;
};
struct Value {
    ValueType type = ValueType::UINT8;
    std::variant<uint64_t, int64_t, double, bool, std::string, Array> v;
    // Accessors throw GgufError("... key X: expected T, found U") on a type mismatch; integer
    // accessors accept any integer type whose value fits.
    int64_t as_int() const;
    uint64_t as_uint() const;
    double as_float() const;
    bool as_bool() const;
    const std::string& as_string() const;
    const Array& as_array() const;
};

struct TensorInfo {
    std::string name;
    std::vector<int64_t> dims;  // GGUF order: dims[0] = row length (fastest varying)
    formats::GgmlType type;
    uint64_t offset = 0;        // relative to the data section
    size_t size = 0;            // bytes, from formats::tensor_bytes
    const uint8_t* data = nullptr; // points into the mapping (reader), or null (writer)
    int64_t n_elements() const;
    int64_t row_len() const { return dims.empty() ? 1 : dims[0]; }
    int64_t n_rows() const;     // product of dims[1..]
};

class File {
public:
    // How the bytes are held: `map` maps the file read-only (pages come from the page cache on
    // first touch and are shared with other processes); `read` copies it into anonymous memory
    // advised for transparent huge pages and then made read-only (llama.cpp's --no-mmap): a
    // decode step reads every weight, and 2 MiB pages cut its TLB misses, at the cost of reading
    // the whole file up front.
    enum class Load { map, read };
    // Opens and validates; throws GgufError. The bytes stay read-only for the object's life.
    static std::unique_ptr<File> open(const std::filesystem::path& path, Load load = Load::map);
    ~File();
    File(const File&) = delete;
    File& operator=(const File&) = delete;

    const std::filesystem::path& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    size_t file_size() const { return size_; }
    bool mapped() const { return mapped_; } // Load::map (else the bytes are an anonymous copy)
    // Keys in file order.
    const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
    const Value* find(std::string_view key) const;     // nullptr if absent
    const Value& get(std::string_view key) const;      // throws GgufError naming file + key
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;
    const TensorInfo& tensor(std::string_view name) const; // throws naming file + tensor

    // Load::map puts the file at a 2 MiB boundary and advises transparent huge pages, so where the
    // page cache holds the file in 2 MiB folios each is mapped with one page-table entry (a decode
    // step reads every weight: fewer TLB misses). The cache keeps the folio size it had when the
    // file was read in, and a file just written or copied sits in 4 KiB folios; this re-reads such
    // a file's cache in 2 MiB folios: it drops our mapping's pages and the cache's clean, unmapped
    // pages of the file (nothing is lost: the next read loads them from disk, once), and checks one
    // 2 MiB span. Files under 64 MiB, Load::read and systems with transparent huge pages off are
    // left alone. Never throws; the result says what happened.
    struct HugePages {
        bool huge = false;     // a sampled 2 MiB span is mapped as one page
        bool reread = false;   // the page cache was dropped to get there
        std::string note;      // what happened, for the log
    };
    HugePages adopt_huge_pages() const;
    // Bytes of the mapping currently mapped as 2 MiB pages (/proc/self/smaps); 0 for Load::read.
    size_t huge_mapped_bytes() const;

    // Says that [p, p + n) (inside the file's bytes) will not be read for a while: a mapped file
    // drops the whole pages in it from this process's resident set (they stay in the page cache,
    // and a later read maps them back, unchanged). Returns the bytes dropped; 0 for Load::read,
    // whose anonymous copy would lose its contents, and for ranges outside the file.
    size_t release_pages(const void* p, size_t n) const;

private:
    File() = default;
    std::filesystem::path path_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    const uint8_t* base_ = nullptr;
    size_t size_ = 0;
    void* mapping_ = nullptr; // what munmap releases (Load::read: an aligned anonymous region)
    size_t mapping_size_ = 0;
    bool mapped_ = false;     // Load::map: the bytes are the file's pages (release_pages may drop them)
    uint64_t dev_ = 0, ino_ = 0; // the file opened, so a re-opened path can be checked to be it
    std::vector<std::pair<std::string, Value>> kv_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t, std::less<>> kv_index_, tensor_index_;
    friend class Parser;
};

// Writes GGUF v3. Keys and tensors are written in the order they were added.
class Writer {
public:
    void set(std::string key, Value value);     // replaces an existing key in place
    void set_u32(std::string key, uint32_t v);
    void set_i32(std::string key, int32_t v);
    void set_f32(std::string key, float v);
    void set_bool(std::string key, bool v);
    void set_str(std::string key, std::string v);
    void set_str_array(std::string key, std::vector<std::string> v);
    void set_f32_array(std::string key, const std::vector<float>& v);
    void set_i32_array(std::string key, const std::vector<int32_t>& v);
    // `bytes` must be formats::tensor_bytes(type, dims[0], rows) long.
    void add_tensor(std::string name, std::vector<int64_t> dims, formats::GgmlType type,
                    std::vector<uint8_t> bytes);
    void write(const std::filesystem::path& path) const; // throws GgufError on I/O failure
private:
    std::vector<std::pair<std::string, Value>> kv_;
    struct Pending { TensorInfo info; std::vector<uint8_t> bytes; };
    std::vector<Pending> tensors_;
    uint64_t alignment_ = 32;
};

} // namespace bitnet::gguf

// GGUF v3 writer. Values are checked against their declared types while serialising so a file
// we write always passes our own reader.
#include "gguf/gguf.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

namespace bitnet::gguf {
namespace {

class Out {
public:
    explicit Out(const std::filesystem::path& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
        if (f_ == nullptr) throw GgufError(path_.string() + ": cannot create: " + std::strerror(errno));
    }
    ~Out() {
        if (f_ != nullptr) std::fclose(f_);
    }
    Out(const Out&) = delete;
    Out& operator=(const Out&) = delete;

    void bytes(const void* p, size_t n) {
        if (n != 0 && std::fwrite(p, 1, n, f_) != n) fail();
        pos_ += n;
    }
    template <class T> void pod(T v) { bytes(&v, sizeof v); }
    void str(const std::string& s) {
        pod<uint64_t>(s.size());
        bytes(s.data(), s.size());
    }
    void pad_to(uint64_t alignment) {
        static const uint8_t zeros[64] = {};
        while (pos_ % alignment != 0) {
            const uint64_t n = std::min<uint64_t>(sizeof zeros, alignment - pos_ % alignment);
            bytes(zeros, static_cast<size_t>(n));
        }
    }
    uint64_t pos() const { return pos_; }
    void close() {
        const int rc = std::fclose(f_);
        f_ = nullptr;
        if (rc != 0) fail();
    }

private:
    [[noreturn]] void fail() const {
        throw GgufError(path_.string() + ": write failed: " + std::strerror(errno));
    }
    std::filesystem::path path_;
    std::FILE* f_;
    uint64_t pos_ = 0;
};

[[noreturn]] void bad_value(const std::string& key, const std::string& what) {
    throw GgufError("GGUF writer: key '" + key + "': " + what);
}

template <class T> T checked_int(const std::string& key, const Value& v) {
    const bool is_signed = std::numeric_limits<T>::is_signed;
    if (const auto* u = std::get_if<uint64_t>(&v.v)) {
        if (*u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(*u);
    } else if (const auto* i = std::get_if<int64_t>(&v.v)) {
        if ((is_signed || *i >= 0) && *i >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
            (*i < 0 || static_cast<uint64_t>(*i) <= static_cast<uint64_t>(std::numeric_limits<T>::max())))
            return static_cast<T>(*i);
    } else {
        bad_value(key, "a " + std::string(value_type_name(v.type)) + " value does not hold an integer");
    }
    bad_value(key, "integer does not fit " + std::string(value_type_name(v.type)));
}

void write_value(Out& out, const std::string& key, const Value& v) {
    switch (v.type) {
    case ValueType::UINT8: out.pod(checked_int<uint8_t>(key, v)); return;
    case ValueType::INT8: out.pod(checked_int<int8_t>(key, v)); return;
    case ValueType::UINT16: out.pod(checked_int<uint16_t>(key, v)); return;
    case ValueType::INT16: out.pod(checked_int<int16_t>(key, v)); return;
    case ValueType::UINT32: out.pod(checked_int<uint32_t>(key, v)); return;
    case ValueType::INT32: out.pod(checked_int<int32_t>(key, v)); return;
    case ValueType::UINT64: out.pod(checked_int<uint64_t>(key, v)); return;
    case ValueType::INT64: out.pod(checked_int<int64_t>(key, v)); return;
    case ValueType::FLOAT32: out.pod(static_cast<float>(v.as_float())); return;
    case ValueType::FLOAT64: out.pod(v.as_float()); return;
    case ValueType::BOOL: out.pod<uint8_t>(v.as_bool() ? 1 : 0); return;
    case ValueType::STRING: out.str(v.as_string()); return;
    case ValueType::ARRAY: {
        const Array& a = v.as_array();
        out.pod(static_cast<uint32_t>(a.elem_type));
        out.pod<uint64_t>(a.items.size());
        for (const Value& item : a.items) {
            if (item.type != a.elem_type)
                bad_value(key, "array of " + std::string(value_type_name(a.elem_type)) + " holds a " +
                                   std::string(value_type_name(item.type)));
            write_value(out, key, item);
        }
        return;
    }
    }
    bad_value(key, "unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
}

Value make(ValueType t, decltype(Value::v) v) {
    Value out;
    out.type = t;
    out.v = std::move(v);
    return out;
}

} // namespace

void Writer::set(std::string key, Value value) {
    for (auto& kv : kv_)
        if (kv.first == key) {
            kv.second = std::move(value);
            return;
        }
    kv_.emplace_back(std::move(key), std::move(value));
}

void Writer::set_u32(std::string key, uint32_t v) { set(std::move(key), make(ValueType::UINT32, uint64_t{v})); }
void Writer::set_i32(std::string key, int32_t v) { set(std::move(key), make(ValueType::INT32, int64_t{v})); }
void Writer::set_f32(std::string key, float v) { set(std::move(key), make(ValueType::FLOAT32, double{v})); }
void Writer::set_bool(std::string key, bool v) { set(std::move(key), make(ValueType::BOOL, v)); }
void Writer::set_str(std::string key, std::string v) { set(std::move(key), make(ValueType::STRING, std::move(v))); }

void Writer::set_str_array(std::string key, std::vector<std::string> v) {
    Array a{ValueType::STRING, {}};
    a.items.reserve(v.size());
    for (std::string& s : v) a.items.push_back(make(ValueType::STRING, std::move(s)));
    set(std::move(key), make(ValueType::ARRAY, std::move(a)));
}

void Writer::set_f32_array(std::string key, const std::vector<float>& v) {
    Array a{ValueType::FLOAT32, {}};
    a.items.reserve(v.size());
    for (float f : v) a.items.push_back(make(ValueType::FLOAT32, double{f}));
    set(std::move(key), make(ValueType::ARRAY, std::move(a)));
}

void Writer::set_i32_array(std::string key, const std::vector<int32_t>& v) {
    Array a{ValueType::INT32, {}};
    a.items.reserve(v.size());
    for (int32_t i : v) a.items.push_back(make(ValueType::INT32, int64_t{i}));
    set(std::move(key), make(ValueType::ARRAY, std::move(a)));
}

void Writer::add_tensor(std::string name, std::vector<int64_t> dims, formats::GgmlType type,
                        std::vector<uint8_t> bytes) {
    const std::string ctx = "GGUF writer: tensor '" + name + "': ";
    for (const Pending& p : tensors_)
        if (p.info.name == name) throw GgufError(ctx + "duplicate tensor name");
    if (dims.empty() || dims.size() > 4) throw GgufError(ctx + "needs 1 to 4 dimensions");
    TensorInfo info;
    info.name = std::move(name);
    info.dims = std::move(dims);
    info.type = type;
    for (int64_t d : info.dims)
        if (d <= 0) throw GgufError(ctx + "dimensions must be positive");
    const std::optional<size_t> size = formats::tensor_bytes(type, info.row_len(), info.n_rows());
    if (!size) throw GgufError(ctx + "shape does not fit the type's block size");
    if (bytes.size() != *size)
        throw GgufError(ctx + "has " + std::to_string(bytes.size()) + " bytes, the shape needs " +
                        std::to_string(*size));
    info.size = *size;
    tensors_.push_back(Pending{std::move(info), std::move(bytes)});
}

void Writer::write(const std::filesystem::path& path) const {
    // A caller may choose the alignment through the standard key; anything else uses 32.
    uint64_t alignment = alignment_;
    for (const auto& [key, value] : kv_)
        if (key == "general.alignment") {
            alignment = value.as_uint();
            if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                bad_value(key, "alignment must be a nonzero power of two");
        }

    std::vector<uint64_t> offsets;
    uint64_t data_size = 0;
    for (const Pending& p : tensors_) {
        offsets.push_back(data_size);
        data_size += p.info.size;
        data_size += (alignment - data_size % alignment) % alignment;
    }

    Out out(path);
    out.bytes("GGUF", 4);
    out.pod<uint32_t>(3);
    out.pod<uint64_t>(tensors_.size());
    out.pod<uint64_t>(kv_.size());
    for (const auto& [key, value] : kv_) {
        out.str(key);
        out.pod(static_cast<uint32_t>(value.type));
        write_value(out, key, value);
    }
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const TensorInfo& t = tensors_[i].info;
        out.str(t.name);
        out.pod<uint32_t>(static_cast<uint32_t>(t.dims.size()));
        for (int64_t d : t.dims) out.pod<uint64_t>(static_cast<uint64_t>(d));
        out.pod(static_cast<uint32_t>(t.type));
        out.pod<uint64_t>(offsets[i]);
    }
    out.pad_to(alignment);
    for (const Pending& p : tensors_) {
        out.bytes(p.bytes.data(), p.bytes.size());
        out.pad_to(alignment); // ggml pads after every tensor, the last included
    }
    out.close();
}

} // namespace bitnet::gguf

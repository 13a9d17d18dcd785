// Typed access to metadata values and to tensor shapes.
#include "gguf/gguf.hpp"

#include <limits>
#include <string>

namespace bitnet::gguf {

std::string_view value_type_name(ValueType t) {
    switch (t) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
    }
    return "unknown";
}

namespace {
[[noreturn]] void mismatch(std::string_view expected, ValueType found, std::string_view detail = {}) {
    std::string msg = "GGUF value: expected " + std::string(expected) + ", found " +
                      std::string(value_type_name(found));
    if (!detail.empty()) msg += " (" + std::string(detail) + ")";
    throw GgufError(msg);
}
} // namespace

int64_t Value::as_int() const {
    if (const auto* i = std::get_if<int64_t>(&v)) return *i;
    if (const auto* u = std::get_if<uint64_t>(&v)) {
        if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            mismatch("int64", type, "value " + std::to_string(*u) + " does not fit");
        return static_cast<int64_t>(*u);
    }
    mismatch("integer", type);
}

uint64_t Value::as_uint() const {
    if (const auto* u = std::get_if<uint64_t>(&v)) return *u;
    if (const auto* i = std::get_if<int64_t>(&v)) {
        if (*i < 0) mismatch("unsigned integer", type, "value " + std::to_string(*i) + " is negative");
        return static_cast<uint64_t>(*i);
    }
    mismatch("unsigned integer", type);
}

double Value::as_float() const {
    // Integers are accepted too: writers disagree on whether e.g. a rope base is stored as int.
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
    mismatch("float", type);
}

bool Value::as_bool() const {
    if (const auto* b = std::get_if<bool>(&v)) return *b;
    mismatch("bool", type);
}

const std::string& Value::as_string() const {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    mismatch("string", type);
}

const Array& Value::as_array() const {
    if (const auto* a = std::get_if<Array>(&v)) return *a;
    mismatch("array", type);
}

int64_t TensorInfo::n_elements() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d; // the reader has bounded the product
    return n;
}

int64_t TensorInfo::n_rows() const {
    int64_t n = 1;
    for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
    return n;
}

} // namespace bitnet::gguf

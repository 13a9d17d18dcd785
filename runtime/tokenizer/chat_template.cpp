#include "tokenizer/tokenizer.hpp"

namespace bitnet::tokenizer {

// Only the Llama 3 layout is rendered; the Jinja text a file carries (VocabData::chat_template)
// is kept for callers but not interpreted, because no template engine is linked in.
std::string Tokenizer::apply_chat_template(const std::vector<Message>& messages, bool add_assistant) const {
    static constexpr std::string_view kStart = "<|start_header_id|>";
    static constexpr std::string_view kEnd = "<|end_header_id|>\n\n";
    static constexpr std::string_view kEot = "<|eot_id|>";
    std::string out = "<|begin_of_text|>";
    for (const Message& msg : messages) {
        out.append(kStart).append(msg.role).append(kEnd).append(msg.content).append(kEot);
    }
    if (add_assistant) out.append(kStart).append("assistant").append(kEnd);
    return out;
}

} // namespace bitnet::tokenizer

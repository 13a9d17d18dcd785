// `bitnet tokenize -m FILE [--ids] [--json] [--stdin | TEXT]`. --json prints {"ids":[...]}
// (no BOS added; special-token text parsed as the special token): other tools read it.
#include "cli/commands.hpp"
#include "cli/common_options.hpp"
#include "gguf/gguf.hpp"
#include "tokenizer/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <iterator>

namespace bitnet::cli {

int cmd_tokenize(int argc, char** argv) {
    CommonOptions common;
    std::string model, text;
    po::options_description desc("bitnet tokenize options");
    add_common_options(desc, common);
    desc.add_options()
        ("model,m", po::value(&model)->required(), "GGUF model file whose vocabulary to use")
        ("ids", "print only the ids, space-separated")
        ("json", "print {\"ids\":[...]}")
        ("stdin", "read the text from standard input")
        ("add-bos", "prepend BOS")
        ("text", po::value(&text), "text to tokenize");
    po::positional_options_description pos;
    pos.add("text", 1);
    po::variables_map vm;
    if (!parse_args(argc, argv, desc, vm, "bitnet tokenize -m FILE [--ids|--json] [--stdin | TEXT]", &pos)) return 0;
    if (vm.count("stdin")) text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    else if (!vm.count("text")) throw po::error("give TEXT or --stdin");
    auto file = gguf::File::open(model);
    tokenizer::Tokenizer tok(tokenizer::vocab_from_gguf(*file));
    const auto ids = tok.encode(text, vm.count("add-bos") > 0, true);
    if (vm.count("json")) {
        std::cout << nlohmann::json{{"ids", ids}}.dump() << "\n";
    } else if (vm.count("ids")) {
        for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
        std::cout << "\n";
    } else {
        for (int32_t id : ids) std::cout << id << "\t" << nlohmann::json(tok.token_bytes(id, true)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    return 0;
}

} // namespace bitnet::cli

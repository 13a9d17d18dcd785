// `bitnet run [-m FILE] -p PROMPT -n N [--temp ...] [--seed S] [--chat]`: streams generated text
// to stdout and ends with a one-line summary on stderr (prompt tokens/s, generation tokens/s,
// time to first token, peak RSS).
#include "cli/commands.hpp"
#include "cli/model_env.hpp"
#include "core/memory_stats.hpp"
#include "sampling/sampling.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace bitnet::cli {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
} // namespace

int cmd_run(int argc, char** argv) {
    CommonOptions common;
    ModelOptions mopts;
    std::string prompt, system_prompt;
    int n_predict = 64;
    SamplingConfig s;       // filled from the config below, then overridden by flags present
    po::options_description desc("bitnet run options");
    add_common_options(desc, common);
    add_model_options(desc, mopts);
    desc.add_options()
        ("prompt,p", po::value(&prompt), "prompt text")
        ("n-predict,n", po::value(&n_predict), "tokens to generate (default 64)")
        ("temp", po::value<float>(), "temperature (0 = greedy)")
        ("top-k", po::value<int>(), "top-k (0 = off)")
        ("top-p", po::value<float>(), "top-p (1 = off)")
        ("min-p", po::value<float>(), "min-p (0 = off)")
        ("repeat-penalty", po::value<float>(), "repetition penalty (1 = off)")
        ("repeat-last-n", po::value<int>(), "tokens the repetition penalty looks back")
        ("seed", po::value<int64_t>(), "sampling seed (-1 = random)")
        ("chat", "wrap the prompt in the model's chat template (Llama 3)")
        ("system", po::value(&system_prompt), "system message for --chat")
        ("ignore-eos", "keep generating after an end-of-generation token");
    po::variables_map vm;
    if (!parse_args(argc, argv, desc, vm, "bitnet run [-m FILE] -p PROMPT [-n N] [-t THREADS] [--temp T] [--seed S] [--chat]")) return 0;
    if (n_predict < 0) throw po::error("--n-predict must be >= 0");

    auto env = make_model_env(common, mopts);
    s = env->runtime->config.sampling;
    if (vm.count("temp")) s.temperature = vm["temp"].as<float>();
    if (vm.count("top-k")) s.top_k = vm["top-k"].as<int>();
    if (vm.count("top-p")) s.top_p = vm["top-p"].as<float>();
    if (vm.count("min-p")) s.min_p = vm["min-p"].as<float>();
    if (vm.count("repeat-penalty")) s.repeat_penalty = vm["repeat-penalty"].as<float>();
    if (vm.count("repeat-last-n")) s.repeat_last_n = vm["repeat-last-n"].as<int>();
    if (vm.count("seed")) s.seed = vm["seed"].as<int64_t>();
    if (s.temperature < 0 || s.top_p < 0 || s.top_p > 1 || s.min_p < 0 || s.min_p > 1 || s.repeat_penalty <= 0)
        throw po::error("sampling values out of range (temp >= 0, 0 <= top-p, min-p <= 1, repeat-penalty > 0)");

    const auto& tok = env->model->tokenizer();
    std::vector<int32_t> ids;
    if (vm.count("chat")) {
        std::vector<tokenizer::Tokenizer::Message> msgs;
        if (!system_prompt.empty()) msgs.push_back({"system", system_prompt});
        msgs.push_back({"user", prompt});
        ids = tok.encode(tok.apply_chat_template(msgs, true), false, true);
    } else {
        ids = tok.encode(prompt, tok.add_bos(), true);
    }
    if (ids.empty()) throw std::runtime_error("the prompt is empty and the model adds no BOS token");
    auto& session = *env->session;
    if (int64_t(ids.size()) >= session.n_ctx())
        throw std::runtime_error(fmt::format("the prompt has {} tokens but the context holds {}: shorten it or raise --ctx-size",
                                             ids.size(), session.n_ctx()));

    auto chain = sampling::make_chain(s);
    for (int32_t id : ids) chain.accept(id);
    tokenizer::StreamDecoder out(tok);
    std::vector<float> logits;

    const auto t_prompt = Clock::now();
    session.decode(ids, false, logits);
    const double prompt_s = seconds_since(t_prompt);
    double ttft_s = 0, gen_s = 0;
    int generated = 0;
    std::string stop = "limit";
    const auto t_gen = Clock::now();
    for (int i = 0; i < n_predict; ++i) {
        const int32_t next = chain.sample(logits);
        if (i == 0) ttft_s = seconds_since(t_prompt);
        chain.accept(next);
        ++generated;
        if (tok.is_eog(next) && !vm.count("ignore-eos")) {
            stop = "end of generation";
            break;
        }
        std::cout << out.push(next) << std::flush;
        if (i + 1 == n_predict) break;
        if (session.n_past() >= session.n_ctx()) {
            stop = "context full";
            break;
        }
        session.decode(std::span<const int32_t>(&next, 1), false, logits);
    }
    gen_s = seconds_since(t_gen);
    std::cout << out.flush() << std::endl;
    const double tg_tps = generated > 1 ? (generated - 1) / std::max(gen_s - (ttft_s - prompt_s), 1e-9) : 0.0;
    std::fprintf(stderr,
                 "\n[bitnet] prompt %zu tok, %.1f tok/s | generated %d tok, %.1f tok/s | ttft %.1f ms | peak RSS %.1f MiB | "
                 "stop: %s | load %.2f s | ctx %d | threads %d\n",
                 ids.size(), ids.size() / std::max(prompt_s, 1e-9), generated, tg_tps, ttft_s * 1000.0,
                 double(peak_rss_bytes()) / (1 << 20), stop.c_str(), env->load_seconds, session.n_ctx(),
                 env->runtime->pool->size());
    return 0;
}

} // namespace bitnet::cli

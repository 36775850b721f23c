// Smoke test of include/edgeformer/edgeformer.hpp against the C library's own
// greedy result (fixtures from make_fixtures.sh). Usage: test_cpp_wrapper FIXTURE_DIR
#include <edgeformer/edgeformer.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

static int failures = 0;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static std::string read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "cannot read %s\n", path.c_str());
        std::exit(2);
    }
    return std::string(std::istreambuf_iterator<char>(f), {});
}

static_assert(!std::is_copy_constructible<edgeformer::Model>::value, "handles are move-only");
static_assert(!std::is_copy_constructible<edgeformer::Session>::value, "handles are move-only");
static_assert(std::is_nothrow_move_constructible<edgeformer::Session>::value, "moves never throw");
static_assert(!std::is_copy_constructible<edgeformer::Trainer>::value, "handles are move-only");
static_assert(std::is_nothrow_move_constructible<edgeformer::Trainer>::value, "moves never throw");

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const std::string model_path = dir + "/bind_tiny.gguf";
    const std::string prompt = read_file(dir + "/bind_prompt.txt");
    const std::string expected_text = read_file(dir + "/bind_greedy16.txt");
    std::vector<int32_t> expected_ids;
    {
        std::istringstream in(read_file(dir + "/bind_greedy16.ids"));
        for (int32_t id; in >> id;) expected_ids.push_back(id);
    }
    CHECK(expected_ids.size() == 16);

    // version
    CHECK(edgeformer::version_number() == ef_version_number());
    CHECK(edgeformer::version() == std::to_string(EF_VERSION_MAJOR) + "." + std::to_string(EF_VERSION_MINOR) + "." +
                                       std::to_string(EF_VERSION_PATCH));

    // an error surfaces as edgeformer::Error with status and message
    try {
        edgeformer::Model::load(dir + "/missing.gguf");
        CHECK(!"loading a missing file did not throw");
    } catch (const edgeformer::Error &e) {
        CHECK(e.status() == EF_ERR_IO);
        CHECK(e.message().find("missing.gguf") != std::string::npos);
        CHECK(std::string(e.what()).rfind("EF_ERR_IO: ", 0) == 0);
    }

    try {
        edgeformer::convert_hf(dir + "/no-such-checkpoint", dir + "/converted.gguf");
        CHECK(!"converting a missing folder did not throw");
    } catch (const edgeformer::Error &e) {
        CHECK(e.status() == EF_ERR_IO);
    }

    // quantize: progress is reported, the copy loads, returning false cancels
    {
        edgeformer::QuantProfile prof("balanced");
        int calls = 0;
        auto sizes = edgeformer::quantize_file(model_path, dir + "/cpp_q8.gguf", prof,
                                               [&](std::string_view, uint64_t, uint64_t) { return ++calls > 0; });
        CHECK(calls > 0 && sizes.second < sizes.first);
        edgeformer::ModelOptions opts;
        opts.quant_profile = &prof;
        CHECK(edgeformer::Model::load(model_path, opts).n_vocab() > 0);
        try {
            edgeformer::quantize_file(model_path, dir + "/cpp_cancel.gguf", prof,
                                      [](std::string_view, uint64_t, uint64_t) { return false; });
            CHECK(!"a cancelled quantization did not throw");
        } catch (const edgeformer::Error &e) {
            CHECK(e.status() == EF_ERR_CANCELLED);
        }
    }

    edgeformer::Model model = edgeformer::Model::load(model_path);
    CHECK(model.arch() == "llama");
    CHECK(model.n_vocab() > 0 && model.n_layer() > 0 && model.n_embd() > 0 && model.n_params() > 0);
    CHECK(model.metadata().at("general.architecture") == "llama");
    try {
        model.meta_get("no.such.key");
        CHECK(!"missing key did not throw");
    } catch (const edgeformer::Error &e) {
        CHECK(e.status() == EF_ERR_NOT_FOUND);
    }
    bool saw_embd = false;
    for (const auto &t : model.tensors())
        if (t.name == "token_embd.weight") {
            saw_embd = true;
            CHECK(t.shape.size() == 2 && t.shape[0] == model.n_embd() && t.shape[1] == model.n_vocab());
        }
    CHECK(saw_embd);
    {
        std::vector<edgeformer::ChatMessage> msgs = {{"system", "Be brief."}, {"user", "Hi"}};
        CHECK(edgeformer::apply_chat_template("chatml", msgs) ==
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        CHECK(model.apply_chat_template(msgs) == edgeformer::apply_chat_template(model.chat_template_family(), msgs));
        try {
            edgeformer::apply_chat_template("no-such-format", msgs);
            CHECK(!"an unknown chat format did not throw");
        } catch (const edgeformer::Error &e) {
            CHECK(e.status() == EF_ERR_INVALID_ARG);
        }
    }
    auto ids = model.tokenize("Hello world", false);
    CHECK(!ids.empty());
    CHECK(model.detokenize(ids).find("Hello world") != std::string::npos);

    // greedy generate equals the C CLI's ids and text
    {
        edgeformer::Session s = model.session();
        s.set_sampler(edgeformer::SamplerParams::greedy());
        std::vector<int32_t> got;
        std::string text = s.generate(prompt, 16, [&](int32_t tok, std::string_view) {
            if (tok >= 0) got.push_back(tok);
            return true;
        });
        CHECK(got == expected_ids);
        CHECK(text == expected_text);
        auto st = s.stats();
        CHECK(st.gen_tokens == 16 && st.stop_reason == EF_STOP_MAX_TOKENS && st.memory_peak > 0);

        // step by step, as a frame loop does it, gives the same ids
        s.reset();
        s.eval(model.tokenize(prompt, true, true));
        std::vector<int32_t> steps;
        for (int i = 0; i < 16; i++) {
            int32_t tok = s.sample();
            steps.push_back(tok);
            s.eval(&tok, 1);
        }
        CHECK(steps == expected_ids);
        CHECK(s.logits() != nullptr);

        // the callback stops; its exceptions propagate; cancel maps to EF_ERR_CANCELLED
        s.reset();
        s.generate(prompt, 16, [](int32_t, std::string_view) { return false; });
        CHECK(s.stats().stop_reason == EF_STOP_CALLBACK);
        s.reset();
        bool threw = false;
        try {
            s.generate(prompt, 16, [](int32_t, std::string_view) -> bool { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error &e) {
            threw = std::string(e.what()) == "boom";
        }
        CHECK(threw);
        s.reset();
        try {
            s.generate(prompt, 16, [&](int32_t, std::string_view) { s.cancel(); return true; });
            CHECK(!"cancel did not throw");
        } catch (const edgeformer::Error &e) {
            CHECK(e.status() == EF_ERR_CANCELLED);
        }
        try {
            edgeformer::Session tiny = model.session([] { edgeformer::SessionOptions o; o.n_ctx = 4; return o; }());
            tiny.eval(std::vector<int32_t>(5, 1));
            CHECK(!"overfull context did not throw");
        } catch (const edgeformer::Error &e) {
            CHECK(e.status() == EF_ERR_CONTEXT_FULL);
        }

        try {
            edgeformer::SessionOptions o;
            o.kv_type = "q3";
            model.session(o);
            CHECK(!"a bad kv type did not throw");
        } catch (const edgeformer::Error &e) {
            CHECK(e.status() == EF_ERR_INVALID_ARG);
        }
        {
            edgeformer::SessionOptions o;
            o.kv_type = "f32";
            edgeformer::Session s32 = model.session(o);
            s32.generate(prompt, 2);
            CHECK(s32.stats().gen_tokens == 2);
        }
        {
            edgeformer::SessionOptions o;
            o.matmul_mode = "integer-dot";
            o.window = 0;
            o.sinks = 0;
            edgeformer::Session sid = model.session(o);
            CHECK(sid.matmul_mode() == "integer-dot");
            CHECK(sid.stats().kv_bytes_per_token > 0);
        }

        // a moved-from session is closed, not dangling
        edgeformer::Session moved = std::move(s);
        CHECK(moved.n_past() > 0);
        try {
            s.n_past();
            CHECK(!"moved-from session did not throw");
        } catch (const edgeformer::Error &e) {
            CHECK(e.status() == EF_ERR_STATE);
        }
    }

    // sessions outlive the model handle; two threads share one model
    {
        edgeformer::Session s = model.session();
        std::vector<int32_t> a, b;
        auto run = [&](std::vector<int32_t> &out) {
            edgeformer::Session t = model.session();
            t.set_sampler(edgeformer::SamplerParams::greedy());
            t.generate(prompt, 16, [&](int32_t tok, std::string_view) {
                if (tok >= 0) out.push_back(tok);
                return true;
            });
        };
        std::thread t1(run, std::ref(a)), t2(run, std::ref(b));
        t1.join();
        t2.join();
        CHECK(a == expected_ids && b == expected_ids);
        model.close();
        s.set_sampler(edgeformer::SamplerParams::greedy());
        CHECK(s.generate(prompt, 16) == expected_text);
    }

    // training: 3 steps on a tiny model, exported and loaded back
    {
        std::string text;
        for (int i = 0; i < 40; i++) text += "the quick brown fox jumps over the lazy dog. ";
        edgeformer::TrainParams p;
        p.set("text", text).set("vocab", "synthetic:300").set("dim", 32).set("layers", 1).set("heads", 2);
        p.set("kv_heads", 1).set("ff", 64).set("seq", 16).set("batch", 2).set("steps", 3).set("warmup", 1);
        p.set("threads", 1).set("lr", 1e-3).set("tied", true);
        edgeformer::Trainer t(p);
        CHECK(t.n_params() > 0 && t.tokens_per_step() == 2 * 16 && t.step_count() == 0 && t.lr() > 0.0f);
        for (int i = 0; i < 3; i++) {
            float loss = t.step();
            CHECK(std::isfinite(loss) && loss > 0.0f);
        }
        CHECK(t.step_count() == 3 && std::isfinite(t.evaluate()));
        const std::string ckpt = dir + "/train_cpp.ckpt", out = dir + "/train_cpp.gguf";
        t.save(ckpt);
        t.load(ckpt);
        CHECK(t.step_count() == 3);
        try {
            t.load(dir + "/missing.ckpt");
            CHECK(!"loading a missing checkpoint did not throw");
        } catch (const edgeformer::Error &e) {
            CHECK(e.status() == EF_ERR_IO);
        }
        t.export_gguf(out);
        edgeformer::Trainer moved = std::move(t);
        CHECK(moved.step_count() == 3);
        try {
            t.step();
            CHECK(!"a moved-from trainer did not throw");
        } catch (const edgeformer::Error &e) {
            CHECK(e.status() == EF_ERR_STATE);
        }
        edgeformer::Model trained = edgeformer::Model::load(out);
        CHECK(trained.arch() == "edgeformer" && trained.n_embd() == 32 && trained.n_layer() == 1 &&
              trained.n_vocab() == 300);
        CHECK(!trained.tokenize("the quick").empty());
        try {
            edgeformer::TrainParams().set("no_such_setting", 1);
            CHECK(!"an unknown training setting did not throw");
        } catch (const edgeformer::Error &e) {
            CHECK(e.status() == EF_ERR_INVALID_ARG && e.message().find("no_such_setting") != std::string::npos);
        }
    }

    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("C++ wrapper: ok\n");
    return 0;
}

// frame_loop: text generation inside a game-engine style main loop.
//
// A game cannot block its frame on a whole generate call. This example
// advances generation by a fixed token budget per frame instead: the prompt
// is evaluated in budget-sized chunks, then each frame samples and evaluates
// at most `budget` tokens, shows the text so far, and the "player" may cancel
// at any frame. Everything runs on the frame thread, step by step through
// eval/sample (not ef_session_generate), so no call takes longer than
// `budget` tokens of work.
//
// usage: frame_loop MODEL [--prompt TEXT] [--tokens-per-frame N] [--max-tokens N]
//                         [--cancel-at-frame F] [--frame-ms MS] [--print-ids]
#include <edgeformer/edgeformer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// Bytes of a UTF-8 stream that end on a character boundary; the rest waits
// for the next token (a character may span tokens). Invalid bytes pass.
size_t complete_utf8_prefix(const std::string &s) {
    size_t i = s.size(), back = 0;
    while (i > 0 && back < 3 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0) return s.size();
    unsigned char lead = static_cast<unsigned char>(s[i - 1]);
    size_t need = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 0;
    if (need == 0 || back + 1 >= need) return s.size();
    return i - 1;
}

// One generation driven a few tokens per frame: a small state machine.
class FrameGenerator {
public:
    enum class State { Prompt, Generating, Done, Cancelled };

    FrameGenerator(edgeformer::Model &model, edgeformer::Session &session, const std::string &prompt,
                   int32_t max_tokens)
        : model_(model), session_(session), max_tokens_(max_tokens) {
        // BOS only at the start of a conversation, as ef_session_generate does
        bool fresh = session_.n_past() == 0;
        prompt_ids_ = model_.tokenize(prompt, fresh, true);
        if (prompt_ids_.empty() && fresh) throw edgeformer::Error(EF_ERR_INVALID_ARG, "empty prompt");
        if (prompt_ids_.empty()) state_ = State::Generating;
    }

    // Does at most `budget` tokens of work; returns true while more remains.
    bool step(int32_t budget) {
        if (state_ == State::Prompt) {
            // prompt: evaluate the next chunk, continue next frame
            size_t n = std::min<size_t>(static_cast<size_t>(budget), prompt_ids_.size() - prompt_done_);
            session_.eval(prompt_ids_.data() + prompt_done_, n);
            prompt_done_ += n;
            if (prompt_done_ == prompt_ids_.size()) state_ = State::Generating;
            return true;
        }
        for (int32_t i = 0; i < budget && state_ == State::Generating; i++) {
            if (static_cast<int32_t>(ids_.size()) >= max_tokens_) {
                state_ = State::Done;
                break;
            }
            int32_t tok = session_.sample();
            if (model_.is_eog(tok)) {
                state_ = State::Done;
                break;
            }
            ids_.push_back(tok);
            pending_ += model_.detokenize({tok});
            size_t ready = complete_utf8_prefix(pending_);
            text_ += pending_.substr(0, ready);
            pending_.erase(0, ready);
            if (session_.n_past() >= session_.n_ctx()) {
                state_ = State::Done;
                break;
            }
            session_.eval(&tok, 1);
        }
        if (state_ == State::Done) {
            text_ += pending_;  // an incomplete tail is shown as it is
            pending_.clear();
        }
        return state_ == State::Prompt || state_ == State::Generating;
    }

    // The player pressed Escape: nothing is running between frames, so stopping
    // is just not stepping again (Session::cancel() would interrupt a call in
    // flight on another thread).
    void cancel() {
        if (state_ == State::Prompt || state_ == State::Generating) state_ = State::Cancelled;
    }

    State state() const { return state_; }
    const std::string &text() const { return text_; }
    const std::vector<int32_t> &ids() const { return ids_; }
    size_t prompt_progress() const { return prompt_done_; }
    size_t prompt_size() const { return prompt_ids_.size(); }

private:
    edgeformer::Model &model_;
    edgeformer::Session &session_;
    int32_t max_tokens_;
    State state_ = State::Prompt;
    std::vector<int32_t> prompt_ids_;  // [n_prompt] token ids of the prompt
    size_t prompt_done_ = 0;           // prompt tokens evaluated so far
    std::vector<int32_t> ids_;         // [n_generated] generated token ids
    std::string text_;                 // complete UTF-8 text so far
    std::string pending_;              // bytes of an unfinished character
};

const char *state_name(FrameGenerator::State s) {
    switch (s) {
    case FrameGenerator::State::Prompt: return "prompt";
    case FrameGenerator::State::Generating: return "generating";
    case FrameGenerator::State::Done: return "done";
    case FrameGenerator::State::Cancelled: return "cancelled";
    }
    return "?";
}

int usage(const char *argv0) {
    std::fprintf(stderr,
                 "usage: %s MODEL [--prompt TEXT] [--tokens-per-frame N] [--max-tokens N]\n"
                 "                [--cancel-at-frame F] [--frame-ms MS] [--print-ids]\n",
                 argv0);
    return 2;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) return usage(argv[0]);
    std::string model_path = argv[1], prompt = "Once upon a time";
    long budget = 2, max_tokens = 32, cancel_at = -1, frame_ms = 0;
    bool print_ids = false;
    for (int i = 2; i < argc; i++) {
        auto num = [&](long &out) {
            if (i + 1 >= argc) return false;
            char *end = nullptr;
            out = std::strtol(argv[++i], &end, 10);
            return *end == '\0';
        };
        bool ok = true;
        if (!std::strcmp(argv[i], "--prompt") && i + 1 < argc) prompt = argv[++i];
        else if (!std::strcmp(argv[i], "--tokens-per-frame")) ok = num(budget) && budget > 0;
        else if (!std::strcmp(argv[i], "--max-tokens")) ok = num(max_tokens) && max_tokens >= 0;
        else if (!std::strcmp(argv[i], "--cancel-at-frame")) ok = num(cancel_at);
        else if (!std::strcmp(argv[i], "--frame-ms")) ok = num(frame_ms) && frame_ms >= 0;
        else if (!std::strcmp(argv[i], "--print-ids")) print_ids = true;
        else ok = false;
        if (!ok) return usage(argv[0]);
    }

    try {
        edgeformer::Model model = edgeformer::Model::load(model_path);
        edgeformer::Session session = model.session();
        session.set_sampler(edgeformer::SamplerParams::greedy());
        FrameGenerator gen(model, session, prompt, static_cast<int32_t>(max_tokens));

        // the game loop: one iteration per frame
        long frame = 0;
        for (bool running = true; running; frame++) {
            auto frame_start = std::chrono::steady_clock::now();
            if (frame == cancel_at) gen.cancel();  // input handling
            running = gen.step(static_cast<int32_t>(budget));  // the frame's share of inference
            // "render": the partial text
            if (gen.state() == FrameGenerator::State::Prompt)
                std::printf("[frame %ld] prompt %zu/%zu\n", frame, gen.prompt_progress(), gen.prompt_size());
            else
                std::printf("[frame %ld] %s: %s\n", frame, state_name(gen.state()), gen.text().c_str());
            std::fflush(stdout);
            if (frame_ms > 0)  // pace like a fixed-rate game loop
                std::this_thread::sleep_until(frame_start + std::chrono::milliseconds(frame_ms));
        }
        std::printf("state: %s after %ld frames, %zu tokens\n", state_name(gen.state()), frame, gen.ids().size());
        if (print_ids) {
            std::printf("ids:");
            for (int32_t id : gen.ids()) std::printf(" %d", id);
            std::printf("\n");
        }
    } catch (const edgeformer::Error &e) {
        std::fprintf(stderr, "frame_loop: %s\n", e.what());
        return 1;
    }
    return 0;
}

/* ef_session_generate: prompt in, streamed tokens out. Token bytes are
 * buffered until they form complete UTF-8 characters, so callers never see
 * half a character. */
#include <string.h>

#include "api/session.h"
#include "base/platform.h"

/* Length of the longest prefix of buf[0..n) that ends on a UTF-8 character
 * boundary. Invalid bytes count as complete (they are passed through rather
 * than held forever). */
static size_t utf8_complete_prefix(const unsigned char *buf, size_t n) {
    size_t i = n;
    /* walk back over at most 3 continuation bytes to the last lead byte */
    size_t back = 0;
    while (i > 0 && back < 3 && (buf[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0) return n; /* only continuation bytes: invalid, pass through */
    unsigned char lead = buf[i - 1];
    size_t need;
    if (lead < 0x80) need = 1;
    else if ((lead & 0xE0) == 0xC0) need = 2;
    else if ((lead & 0xF0) == 0xE0) need = 3;
    else if ((lead & 0xF8) == 0xF0) need = 4;
    else return n; /* invalid lead byte */
    size_t have = back + 1;
    return have >= need ? n : i - 1;
}

typedef struct {
    char buf[64]; /* bytes not yet delivered (an incomplete character) */
    size_t len;
} utf8_stream;

ef_status ef_session_generate(ef_session *s, const char *prompt, size_t prompt_len, int32_t max_tokens,
                              ef_token_fn on_token, void *user) {
    if (!s) return ef_err(EF_ERR_INVALID_ARG, "session is NULL");
    if (!prompt && prompt_len) return ef_session_fail(s, ef_err(EF_ERR_INVALID_ARG, "prompt is NULL"));
    if (max_tokens < 0) return ef_session_fail(s, ef_err(EF_ERR_INVALID_ARG, "max_tokens must be >= 0"));
    atomic_store(&s->cancel, 0);
    s->prompt_tokens = s->prompt_seconds = s->gen_tokens = s->gen_seconds = 0;
    s->stop_reason = EF_STOP_NONE;
    s->n_past = ef_session_kv_len(s); /* sequence operations may have moved it */
    const ef_vocab *vocab = s->model->vocab;

    /* BOS only at the start of a conversation; special-token texts are
     * recognised so chat templates work. */
    uint32_t flags = EF_TOKENIZE_PARSE_SPECIAL | (s->n_past == 0 ? EF_TOKENIZE_ADD_SPECIAL : 0);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    ef_status st = ef_vocab_tokenize(vocab, prompt ? prompt : "", prompt_len, flags, &ids, &n_ids);
    if (st != EF_OK) return ef_session_fail(s, st);
    if (n_ids == 0 && s->n_past == 0) {
        ef_free(ids);
        return ef_session_fail(s, ef_err(EF_ERR_INVALID_ARG, "empty prompt and empty context: nothing to continue"));
    }

    /* With context shift on, a prompt that does not fit pushes older tokens
     * out first (each shift drops half of what follows the kept prefix); if
     * even that cannot make room, the eval below reports EF_ERR_CONTEXT_FULL. */
    while (s->ctx_shift && n_ids > 0 && (int64_t)n_ids > ef_session_kv_room(s)) {
        const int32_t before = s->n_past;
        st = ef_session_context_shift(s);
        if (st == EF_ERR_CONTEXT_FULL || (st == EF_OK && s->n_past == before)) {
            st = EF_OK;
            break;
        }
        if (st != EF_OK) {
            ef_free(ids);
            return ef_session_fail(s, st);
        }
    }

    double t0 = ef_time_now();
    if (n_ids > 0) {
        st = ef_session_eval_keep_cancel(s, ids, n_ids, 0);
        if (st == EF_OK)
            for (size_t i = 0; i < n_ids; i++) ef_sampler_accept(s->sampler, ids[i]);
    }
    ef_free(ids);
    s->prompt_tokens = (double)n_ids;
    s->prompt_seconds = ef_time_now() - t0;
    if (st != EF_OK) {
        if (st == EF_ERR_CANCELLED) s->stop_reason = EF_STOP_CANCELLED;
        return st; /* already recorded by eval */
    }

    utf8_stream out = {{0}, 0};
    double t1 = ef_time_now();
    int32_t produced = 0;
    s->stop_reason = EF_STOP_MAX_TOKENS;
    while (produced < max_tokens) {
        if (atomic_load(&s->cancel)) {
            s->stop_reason = EF_STOP_CANCELLED;
            st = ef_session_fail(s, ef_err(EF_ERR_CANCELLED, "generation cancelled after %d tokens", (int)produced));
            break;
        }
        int32_t tok;
        st = ef_session_sample(s, &tok);
        if (st != EF_OK) break;
        if (ef_vocab_is_eog(vocab, tok)) {
            s->stop_reason = EF_STOP_EOG;
            break;
        }
        produced++;

        /* append the token's bytes, deliver the complete characters */
        char piece[256];
        size_t plen = 0;
        if (ef_vocab_token_bytes(vocab, tok, 0, piece, sizeof piece, &plen) != EF_OK) plen = 0;
        if (plen > sizeof out.buf - out.len) { /* cannot hold: flush what we have as-is */
            if (on_token && out.len) on_token(user, -1, out.buf, out.len);
            out.len = 0;
        }
        if (plen > sizeof out.buf) plen = sizeof out.buf; /* tokens are far shorter in practice */
        memcpy(out.buf + out.len, piece, plen);
        out.len += plen;
        size_t ready = utf8_complete_prefix((const unsigned char *)out.buf, out.len);
        int32_t stop = 0;
        if (on_token) stop = on_token(user, tok, out.buf, ready);
        memmove(out.buf, out.buf + ready, out.len - ready);
        out.len -= ready;

        if (stop) {
            /* the token was shown to the caller, so it joins the context when room allows */
            s->stop_reason = EF_STOP_CALLBACK;
            if (ef_session_kv_room(s) > 0) st = ef_session_eval_keep_cancel(s, &tok, 1, 0);
            break;
        }
        if (ef_session_kv_room(s) <= 0 && s->ctx_shift) {
            st = ef_session_context_shift(s); /* drop the older half, keep going */
            if (st != EF_OK) {
                ef_session_fail(s, st);
                s->stop_reason = EF_STOP_CONTEXT_FULL;
                break;
            }
        }
        if (ef_session_kv_room(s) <= 0) { /* streaming sessions (window rings only) never fill */
            s->stop_reason = EF_STOP_CONTEXT_FULL;
            break;
        }
        st = ef_session_eval_keep_cancel(s, &tok, 1, 0);
        if (st != EF_OK) {
            if (st == EF_ERR_CANCELLED) s->stop_reason = EF_STOP_CANCELLED;
            break;
        }
    }
    if (on_token && out.len) on_token(user, -1, out.buf, out.len);
    s->gen_tokens = produced;
    s->gen_seconds = ef_time_now() - t1;
    return st;
}

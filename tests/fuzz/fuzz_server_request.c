/* libFuzzer target for the request parser of `edgeformer serve`
 * (examples/server/request_parse.c). Input: byte 0 picks the endpoint and
 * the model's chat template:
 *   bit 0: 0 /v1/completions, 1 /v1/chat/completions;
 *   bits 1-2: the model's tokenizer.chat_template (ChatML, Llama 3, Llama 2,
 *             or none, which falls back to ChatML);
 * the rest is the request body, handed over in a buffer of exactly its size
 * (not NUL-terminated). The model is a stand-in: an ef_model whose GGUF holds
 * only the chat template key, which is all ef_chat_apply_template reads.
 * Checked (__builtin_trap on a violation): a parse either succeeds with every
 * field in its documented range and its strings NUL-terminated within
 * bounds, or fails with an HTTP status, a type, a terminated message and
 * the request emptied; the error renders as JSON; a success parses the same
 * way a second time. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "model/model.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) __builtin_trap();                                                                                 \
    } while (0)

#define FUZZ_MAX_TOKENS 4096
#define N_TEMPLATES 4

static const char *const k_templates[N_TEMPLATES] = {
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
    "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}",
    "{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}",
    NULL, /* no template key: the ChatML fallback */
};

/* A GGUF v3 image with no tensors and at most one string key. */
typedef struct {
    uint8_t bytes[512];
    size_t len;
} gguf_image;

static void put(gguf_image *im, const void *p, size_t n) {
    CHECK(im->len + n <= sizeof im->bytes);
    memcpy(im->bytes + im->len, p, n);
    im->len += n;
}

static void put_u32(gguf_image *im, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(im, b, 4);
}

static void put_u64(gguf_image *im, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(im, b, 8);
}

static void put_str(gguf_image *im, const char *s) {
    put_u64(im, strlen(s));
    put(im, s, strlen(s));
}

static gguf_image g_images[N_TEMPLATES];
static ef_model g_models[N_TEMPLATES];
static int g_ready;

static void setup(void) {
    for (int i = 0; i < N_TEMPLATES; i++) {
        gguf_image *im = &g_images[i];
        put(im, "GGUF", 4);
        put_u32(im, 3);                       /* version */
        put_u64(im, 0);                       /* tensors */
        put_u64(im, k_templates[i] ? 1 : 0); /* keys */
        if (k_templates[i]) {
            put_str(im, "tokenizer.chat_template");
            put_u32(im, EF_GGUF_STRING);
            put_str(im, k_templates[i]);
        }
        ef_gguf *g = NULL;
        if (ef_gguf_open_memory(im->bytes, im->len, &g) != EF_OK) abort(); /* the fixture itself is valid */
        g_models[i].gguf = g; /* kept until exit */
    }
    g_ready = 1;
}

/* s is a C string of at most max bytes before its NUL. */
static void check_string(const char *s, size_t max) {
    CHECK(s != NULL);
    CHECK(memchr(s, '\0', max + 1) != NULL);
}

static void check_ok(const completion_request *req, int chat, size_t body_len) {
    CHECK(req->chat == chat);
    CHECK(req->stream == 0 || req->stream == 1);
    /* A completion prompt comes out of the body; a chat adds the template's
     * markup per message, and a message takes at least its 25 bytes of JSON. */
    check_string(req->prompt, chat ? 4 * body_len + 256 : body_len);
    CHECK(req->max_tokens >= 1 && req->max_tokens <= FUZZ_MAX_TOKENS);
    CHECK(req->temperature >= 0.0f && req->temperature <= 2.0f);
    CHECK(req->top_p > 0.0f && req->top_p <= 1.0f);
    CHECK(req->min_p >= 0.0f && req->min_p < 1.0f);
    CHECK(req->top_k >= 0 && req->top_k <= 1000000000);
    CHECK(req->seed <= 9007199254740992ull);
    CHECK(req->n_stops <= SERVER_MAX_STOPS);
    for (size_t i = 0; i < req->n_stops; i++) {
        check_string(req->stops[i], body_len);
        CHECK(req->stops[i][0] != '\0');
    }
}

static void check_error(const completion_request *req, const request_error *err) {
    CHECK(err->status == 400 || err->status == 404 || err->status == 500);
    CHECK(err->type != NULL);
    CHECK(memchr(err->message, '\0', sizeof err->message) != NULL);
    CHECK(err->message[0] != '\0');
    CHECK(req->prompt == NULL && req->n_stops == 0); /* freed on failure */
    char *json = error_json(err);
    if (json) {
        check_string(json, 4096);
        free(json);
    }
}

static int same_request(const completion_request *a, const completion_request *b) {
    if (a->chat != b->chat || a->stream != b->stream || strcmp(a->prompt, b->prompt) ||
        a->max_tokens != b->max_tokens || a->temperature != b->temperature || a->top_p != b->top_p ||
        a->min_p != b->min_p || a->top_k != b->top_k || a->seed != b->seed || a->n_stops != b->n_stops)
        return 0;
    for (size_t i = 0; i < a->n_stops; i++)
        if (strcmp(a->stops[i], b->stops[i])) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!g_ready) setup();
    int chat = data[0] & 1;
    ef_model *model = &g_models[(data[0] >> 1) & 3];
    size_t len = size - 1;
    /* An exact-size copy, so an over-read past the body is caught. */
    char *body = malloc(len ? len : 1);
    if (!body) return 0;
    if (len) memcpy(body, data + 1, len);

    server_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_tokens = FUZZ_MAX_TOKENS;
    cfg.max_body = 1 << 20;
    completion_request req;
    request_error err;
    memset(&err, 0, sizeof err);
    int rc = completion_request_parse(body, len, chat, model, "tiny", &cfg, &req, &err);
    CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        check_ok(&req, chat, len);
        completion_request again;
        request_error err2;
        CHECK(completion_request_parse(body, len, chat, model, "tiny", &cfg, &again, &err2) == 0);
        CHECK(same_request(&req, &again));
        completion_request_free(&again);
        completion_request_free(&req);
        CHECK(req.prompt == NULL && req.n_stops == 0);
    } else {
        check_error(&req, &err);
    }
    free(body);
    return 0;
}

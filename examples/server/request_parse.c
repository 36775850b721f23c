/* OpenAI request bodies (completions and chat) → completion_request, with
 * the validation that answers 400/404. Unknown fields are ignored, as
 * OpenAI does. */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

void request_error_set(request_error *err, int status, const char *type, const char *code, const char *fmt, ...) {
    err->status = status;
    err->type = type;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

char *error_json(const request_error *err) {
    cJSON *root = cJSON_CreateObject();
    cJSON *e = root ? cJSON_AddObjectToObject(root, "error") : NULL;
    char *s = NULL;
    if (e && cJSON_AddStringToObject(e, "message", err->message) && cJSON_AddStringToObject(e, "type", err->type) &&
        (err->code ? cJSON_AddStringToObject(e, "code", err->code) : cJSON_AddNullToObject(e, "code"))) {
        s = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(root);
    return s;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* 400 with the OpenAI error shape; param names the offending field (or NULL). */
static int bad_request(request_error *err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad_request(request_error *err, const char *param, const char *fmt, ...) {
    err->status = 400;
    err->type = "invalid_request_error";
    err->code = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int no_memory(request_error *err) {
    request_error_set(err, 500, "server_error", NULL, "out of memory");
    return -1;
}

#define BAD(...) bad_request(err, NULL, __VA_ARGS__)
#define BAD_PARAM(param, ...) bad_request(err, param, __VA_ARGS__)
#define NO_MEMORY() no_memory(err)

/* A number field in [lo, hi]; absent or null keeps *out. */
static int get_number(const cJSON *root, const char *name, double lo, double hi, double *out, request_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return BAD_PARAM(name, "'%s' must be a number", name);
    if (v->valuedouble < lo || v->valuedouble > hi) {
        return BAD_PARAM(name, "'%s' must be in [%g, %g], got %g", name, lo, hi, v->valuedouble);
    }
    *out = v->valuedouble;
    return 0;
}

static int get_integer(const cJSON *root, const char *name, double lo, double hi, double *out, request_error *err) {
    double before = *out;
    if (get_number(root, name, lo, hi, out, err)) return -1;
    if (*out != floor(*out)) {
        *out = before;
        return BAD_PARAM(name, "'%s' must be an integer", name);
    }
    return 0;
}

/* "stop": a string or an array of up to 4 non-empty strings. */
static int get_stops(const cJSON *root, completion_request *req, request_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (!v || cJSON_IsNull(v)) return 0;
    const cJSON *items[SERVER_MAX_STOPS];
    size_t n = 0;
    if (cJSON_IsString(v)) {
        items[n++] = v;
    } else if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v) {
            if (n == SERVER_MAX_STOPS) return BAD_PARAM("stop", "'stop' holds at most %d strings", SERVER_MAX_STOPS);
            if (!cJSON_IsString(it)) return BAD_PARAM("stop", "'stop' must hold strings");
            items[n++] = it;
        }
    } else {
        return BAD_PARAM("stop", "'stop' must be a string or an array of strings");
    }
    for (size_t i = 0; i < n; i++) {
        if (!items[i]->valuestring[0]) return BAD_PARAM("stop", "a 'stop' string is empty");
        if (!(req->stops[req->n_stops] = dup_str(items[i]->valuestring))) return NO_MEMORY();
        req->n_stops++;
    }
    return 0;
}

/* The text of a chat message's content: a string, or an array of
 * {"type":"text","text":...} parts, concatenated. */
static int message_text(const cJSON *content, strbuf *out, request_error *err) {
    if (cJSON_IsString(content)) {
        strbuf_append(out, content->valuestring, strlen(content->valuestring));
        return 0;
    }
    if (!cJSON_IsArray(content)) return BAD_PARAM("messages", "a message's 'content' must be a string or an array of text parts");
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(text)) {
            return BAD_PARAM("messages", "only content parts of type 'text' are supported");
        }
        strbuf_append(out, text->valuestring, strlen(text->valuestring));
    }
    strbuf_append(out, "", 0); /* a C string even when empty */
    return 0;
}

/* Renders "messages" with the model's chat template into req->prompt. */
static int render_chat(const cJSON *root, ef_model *model, completion_request *req, request_error *err) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs) return BAD_PARAM("messages", "'messages' is required");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
        return BAD_PARAM("messages", "'messages' must be a non-empty array");
    }
    size_t n = (size_t)cJSON_GetArraySize(msgs);
    const char **roles = calloc(n, sizeof *roles);
    strbuf *texts = calloc(n, sizeof *texts);
    const char **contents = calloc(n, sizeof *contents);
    int rc = -1;
    if (!roles || !texts || !contents) {
        NO_MEMORY();
        goto done;
    }
    size_t i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role) || !content) {
            BAD_PARAM("messages", "messages[%zu] needs a string 'role' and a 'content'", i);
            goto done;
        }
        if (message_text(content, &texts[i], err)) goto done;
        if (texts[i].oom) {
            NO_MEMORY();
            goto done;
        }
        roles[i] = role->valuestring;
        contents[i] = texts[i].data ? texts[i].data : "";
        i++;
    }
    size_t needed = 0;
    ef_status st = ef_chat_apply_template(model, roles, contents, n, 1, NULL, 0, &needed);
    if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) {
        BAD_PARAM("messages", "%s", ef_last_error());
        goto done;
    }
    if (!(req->prompt = malloc(needed))) {
        NO_MEMORY();
        goto done;
    }
    if ((st = ef_chat_apply_template(model, roles, contents, n, 1, req->prompt, needed, &needed)) != EF_OK) {
        BAD_PARAM("messages", "%s", ef_last_error());
        goto done;
    }
    rc = 0;
done:
    if (texts) {
        for (size_t k = 0; k < n; k++) strbuf_free(&texts[k]);
    }
    free(texts);
    free(roles);
    free(contents);
    return rc;
}

/* "prompt": a string, or an array holding exactly one string. */
static int get_prompt(const cJSON *root, completion_request *req, request_error *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p) return BAD_PARAM("prompt", "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1) p = cJSON_GetArrayItem(p, 0);
    if (!cJSON_IsString(p)) return BAD_PARAM("prompt", "'prompt' must be a string (or an array of one string)");
    if (!(req->prompt = dup_str(p->valuestring))) return NO_MEMORY();
    return 0;
}

int completion_request_parse(const char *body, size_t len, int chat, ef_model *model, const char *model_name,
                             const server_config *cfg, completion_request *req, request_error *err) {
    memset(req, 0, sizeof *req);
    req->chat = chat;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) return BAD("the request body is not valid JSON");
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        BAD("the request body must be a JSON object");
        goto done;
    }
    const cJSON *model_field = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model_field && !cJSON_IsNull(model_field)) {
        if (!cJSON_IsString(model_field)) {
            BAD_PARAM("model", "'model' must be a string");
            goto done;
        }
        if (strcmp(model_field->valuestring, model_name) != 0) {
            request_error_set(err, 404, "invalid_request_error", "model_not_found",
                              "The model '%.120s' does not exist; this server has '%.100s'",
                              model_field->valuestring, model_name);
            goto done;
        }
    }
    /* Defaults: OpenAI's (16 tokens for completions), sampling as `run`. */
    double max_tokens = chat ? cfg->max_tokens : (cfg->max_tokens < 16 ? cfg->max_tokens : 16);
    double temperature = 1.0, top_p = 1.0, min_p = 0.0, top_k = 0, seed = 0;
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (stream && !cJSON_IsNull(stream) && !cJSON_IsBool(stream)) {
        BAD_PARAM("stream", "'stream' must be a boolean");
        goto done;
    }
    req->stream = cJSON_IsTrue(stream);
    if (get_integer(root, "max_tokens", 1, cfg->max_tokens, &max_tokens, err) ||
        get_integer(root, "max_completion_tokens", 1, cfg->max_tokens, &max_tokens, err) ||
        get_number(root, "temperature", 0, 2, &temperature, err) ||
        get_number(root, "top_p", 0, 1, &top_p, err) ||
        get_integer(root, "top_k", 0, 1e9, &top_k, err) ||
        get_number(root, "min_p", 0, 0.999999, &min_p, err) ||
        get_integer(root, "seed", 0, 9007199254740992.0, &seed, err) ||
        get_stops(root, req, err)) {
        goto done;
    }
    if (top_p == 0) {
        BAD_PARAM("top_p", "'top_p' must be greater than 0");
        goto done;
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "n");
    if (n && !cJSON_IsNull(n) && (!cJSON_IsNumber(n) || n->valuedouble != 1)) {
        BAD_PARAM("n", "only n = 1 is supported");
        goto done;
    }
    if (chat ? render_chat(root, model, req, err) : get_prompt(root, req, err)) goto done;
    req->max_tokens = (int32_t)max_tokens;
    req->temperature = (float)temperature;
    req->top_p = (float)top_p;
    req->min_p = (float)min_p;
    req->top_k = (int32_t)top_k;
    req->seed = (uint64_t)seed;
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc) completion_request_free(req);
    return rc;
}

void completion_request_free(completion_request *req) {
    free(req->prompt);
    req->prompt = NULL;
    for (size_t i = 0; i < req->n_stops; i++) free(req->stops[i]);
    req->n_stops = 0;
}

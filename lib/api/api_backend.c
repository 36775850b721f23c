/* Public backend calls: the list of backends (ef_backend_*), a session's
 * choice of backend and its options, and binding a new session to it.
 * Discovery and selection live in lib/backend/registry.c. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/session.h"
#include "backend/backend_internal.h"
#include "base/log.h"

int32_t ef_backend_count(void) { return ef_backend_registry_count(); }

ef_status ef_backend_get(int32_t index, const ef_backend **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_backend_get: out is NULL");
    *out = NULL;
    int32_t n = ef_backend_registry_count();
    if (index < 0 || index >= n)
        return ef_err(EF_ERR_INVALID_ARG, "backend index %d out of range (0..%d)", (int)index, (int)n - 1);
    *out = ef_backend_registry_at(index);
    return EF_OK;
}

const char *ef_backend_name(const ef_backend *b) { return b ? b->name : ""; }
const char *ef_backend_device(const ef_backend *b) { return b && b->available ? b->device : ""; }
const char *ef_backend_path(const ef_backend *b) { return b ? b->path : ""; }
int32_t ef_backend_available(const ef_backend *b) { return b ? b->available : 0; }
const char *ef_backend_unavailable_reason(const ef_backend *b) { return b ? b->reason : ""; }
uint64_t ef_backend_memory(const ef_backend *b) { return b ? b->memory : 0; }
int32_t ef_backend_score(const ef_backend *b) { return b ? b->score : 0; }

/* ---- a session's choice -------------------------------------------------- */

ef_status ef_session_params_set_backend(ef_session_params *p, const char *name) {
    ef_backend_choice *c = ef_session_params_backend(p);
    if (!c) return ef_err(EF_ERR_INVALID_ARG, "ef_session_params_set_backend: params is NULL");
    if (!name) {
        c->name[0] = '\0';
        return EF_OK;
    }
    if (!name[0] || strlen(name) >= sizeof c->name)
        return ef_err(EF_ERR_INVALID_ARG, "backend name '%s' is empty or longer than %d bytes", name,
                      (int)sizeof c->name - 1);
    snprintf(c->name, sizeof c->name, "%s", name);
    return EF_OK;
}

ef_status ef_session_params_set_backend_option(ef_session_params *p, const char *key, const char *value) {
    ef_backend_choice *c = ef_session_params_backend(p);
    if (!c || !key || !value)
        return ef_err(EF_ERR_INVALID_ARG, "ef_session_params_set_backend_option: params, key or value is NULL");
    if (!key[0] || strlen(key) >= EF_BACKEND_OPT_KEY_MAX || strlen(value) >= EF_BACKEND_OPT_VALUE_MAX)
        return ef_err(EF_ERR_INVALID_ARG, "backend option '%s': keys take 1..%d bytes, values up to %d", key,
                      EF_BACKEND_OPT_KEY_MAX - 1, EF_BACKEND_OPT_VALUE_MAX - 1);
    int32_t i = 0;
    while (i < c->n_opts && strcmp(c->keys[i], key) != 0) i++; /* a key set twice keeps the last value */
    if (i == EF_BACKEND_OPTS_MAX)
        return ef_err(EF_ERR_INVALID_ARG, "more than %d backend options", EF_BACKEND_OPTS_MAX);
    snprintf(c->keys[i], sizeof c->keys[i], "%s", key);
    snprintf(c->values[i], sizeof c->values[i], "%s", value);
    if (i == c->n_opts) c->n_opts++;
    return EF_OK;
}

const char *ef_session_backend(const ef_session *s) {
    if (!s) return "";
    return s->backend ? s->backend->name : "cpu";
}

ef_status ef_session_attach_backend(ef_session *s, const ef_backend_choice *choice, int32_t n_threads) {
    char model_default[EF_BACKEND_NAME_MAX];
    const char *name = choice && choice->name[0] ? choice->name
                                                 : ef_backend_model_default(s->model, model_default, sizeof model_default);
    const struct ef_backend *b = NULL;
    EF_TRY(ef_backend_select(name, &b));
    s->backend = b;
    if (!strcmp(b->name, "cpu")) {
        /* the kernels run directly; cpu has no options */
        for (int32_t i = 0; choice && i < choice->n_opts; i++)
            if (!strncmp(choice->keys[i], "cpu.", 4))
                return ef_err(EF_ERR_INVALID_ARG, "the cpu backend has no option '%s'", choice->keys[i]);
        return EF_OK;
    }
    ef_exec_backend *xb = NULL;
    EF_TRY(ef_exec_backend_open(s->model, b, choice, n_threads, &xb));
    s->xbackend = xb;
    ef_exec_attach_backend(s->exec, xb);
    EF_LOGI("session runs its weight matmuls on backend '%s' (%s)", b->name, b->device);
    return EF_OK;
}

/* ---- the model's default backend ------------------------------------------- */

/* A few models at once choose a backend at load; a spin lock keeps the
 * table consistent without an allocation. */
#define MODEL_DEFAULTS_MAX 64
static struct {
    const struct ef_model *m;
    char name[EF_BACKEND_NAME_MAX];
} g_model_defaults[MODEL_DEFAULTS_MAX];
static atomic_flag g_model_lock = ATOMIC_FLAG_INIT;

static void model_lock(void) {
    while (atomic_flag_test_and_set_explicit(&g_model_lock, memory_order_acquire)) {
    }
}
static void model_unlock(void) { atomic_flag_clear_explicit(&g_model_lock, memory_order_release); }

void ef_backend_model_default_set(const struct ef_model *m, const char *name) {
    if (!m || !name || !name[0]) return;
    model_lock();
    int32_t free_slot = -1;
    for (int32_t i = 0; i < MODEL_DEFAULTS_MAX; i++) {
        if (g_model_defaults[i].m == m || (!g_model_defaults[i].m && free_slot < 0)) free_slot = i;
        if (g_model_defaults[i].m == m) break;
    }
    if (free_slot >= 0) {
        g_model_defaults[free_slot].m = m;
        snprintf(g_model_defaults[free_slot].name, sizeof g_model_defaults[free_slot].name, "%s", name);
    }
    model_unlock();
    if (free_slot < 0)
        EF_LOGW("more than %d models chose a backend at load; sessions of this one use EF_BACKEND or auto",
                MODEL_DEFAULTS_MAX);
}

const char *ef_backend_model_default(const struct ef_model *m, char *buf, size_t cap) {
    buf[0] = '\0';
    model_lock();
    for (int32_t i = 0; m && i < MODEL_DEFAULTS_MAX; i++)
        if (g_model_defaults[i].m == m) {
            snprintf(buf, cap, "%s", g_model_defaults[i].name);
            break;
        }
    model_unlock();
    return buf;
}

void ef_backend_model_default_forget(const struct ef_model *m) {
    model_lock();
    for (int32_t i = 0; m && i < MODEL_DEFAULTS_MAX; i++)
        if (g_model_defaults[i].m == m) g_model_defaults[i].m = NULL;
    model_unlock();
}

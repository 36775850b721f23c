/* The host side of compute backends: the registry of backends this process
 * can use (the built-in cpu one and plugins found on disk), the services the
 * host hands plugins, and a session's choice of backend. The public
 * ef_backend handle is `struct ef_backend` below. Not a public contract. */
#ifndef EF_BACKEND_INTERNAL_H
#define EF_BACKEND_INTERNAL_H

#include <stdint.h>

#include "base/error.h"
#include "base/platform.h"
#include "edgeformer/backend.h"

#define EF_BACKEND_NAME_MAX 64
#define EF_BACKEND_PATH_MAX 1024
#define EF_BACKEND_WHY_MAX 512
#define EF_BACKEND_MAX 32 /* backends listed at most (cpu included) */

/* One listed backend. Entries live for the process (plugins are never
 * unloaded), so pointers to them stay valid. */
struct ef_backend {
    char name[EF_BACKEND_NAME_MAX];     /* "cpu", or the NAME of libedgeformer-NAME.so */
    char path[EF_BACKEND_PATH_MAX];     /* the plugin's file; "" for cpu */
    char device[EF_BE_REASON_MAX];      /* from probe; "" if unavailable */
    char reason[EF_BACKEND_WHY_MAX];    /* why unavailable; "" if available */
    int32_t available;
    int32_t score;
    uint64_t memory;
    uint32_t caps;                      /* EF_BE_CAP_* */
    ef_dl *lib;                         /* NULL for cpu */
    ef_be_iface iface;                  /* members beyond the plugin's size are NULL */
};

/* ---- host_services.c ---- */
/* The services every plugin gets: ef_malloc/ef_free and the library log. */
const ef_be_host *ef_backend_host(void);

/* ---- backend_cpu.c ---- */
/* Fills iface with the built-in cpu backend: host-memory buffers, every op
 * on the reference/SIMD kernels of backends/cpu. Score 100. */
void ef_backend_cpu_iface(ef_be_iface *iface);

/* ---- plugin_loader.c ---- */
/* "libedgeformer-NAME.so" (edgeformer-NAME.dll on Windows) → NAME into
 * name; 0 if `file` is not named like a plugin. */
int ef_plugin_name_from_file(const char *file, char *name, size_t cap);
/* Loads the plugin at `path` into *out (name already set): opens it, calls
 * its entry point, checks ABI version and table size, probes it. Never
 * fails: a plugin that cannot be used is left unavailable with the reason. */
void ef_plugin_load(const char *path, struct ef_backend *out);

/* ---- registry.c ---- */
/* Discovery runs once, on the first call of any of these. */
int32_t ef_backend_registry_count(void);
const struct ef_backend *ef_backend_registry_at(int32_t index);
/* The backend called `name`, or NULL. */
const struct ef_backend *ef_backend_find(const char *name);
/* Resolves a choice: name NULL or "" → EF_BACKEND from the environment,
 * else "auto"; "auto" → the highest-scoring available backend (cpu on a
 * tie). Errors: EF_ERR_UNAVAILABLE (unknown name, or listed unavailable:
 * the message gives the reason). */
ef_status ef_backend_select(const char *name, const struct ef_backend **out);

/* ---- a session's choice (api_backend.c) ---- */
#define EF_BACKEND_OPTS_MAX 16
#define EF_BACKEND_OPT_KEY_MAX 64
#define EF_BACKEND_OPT_VALUE_MAX 256
typedef struct ef_backend_choice {
    char name[EF_BACKEND_NAME_MAX]; /* "" = not chosen */
    int32_t n_opts;
    char keys[EF_BACKEND_OPTS_MAX][EF_BACKEND_OPT_KEY_MAX];
    char values[EF_BACKEND_OPTS_MAX][EF_BACKEND_OPT_VALUE_MAX];
} ef_backend_choice;

/* The backend name a model was loaded with (ef_model_params_set_backend),
 * the default of its sessions; "" if none. Kept beside the model, keyed by
 * its address, from load to ef_model_free. */
struct ef_model;
void ef_backend_model_default_set(const struct ef_model *m, const char *name);
const char *ef_backend_model_default(const struct ef_model *m, char *buf, size_t cap);
void ef_backend_model_default_forget(const struct ef_model *m);

#endif

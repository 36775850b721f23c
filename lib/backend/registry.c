/* The list of backends this process can use, built once: the built-in cpu
 * backend first, then plugins found, in order, on EF_BACKEND_PATH, in the
 * folder of libedgeformer itself (the executable's for static builds) and
 * in the install libdir. The first plugin of a name wins. Selection by name
 * or "auto" (highest score among the available ones, cpu on a tie). */
#include "backend/backend_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#ifndef EF_INSTALL_LIBDIR
/* the build passes CMAKE_INSTALL_FULL_LIBDIR; this is its usual value */
#define EF_INSTALL_LIBDIR "/usr/local/lib"
#endif

/* Entries live for the process: static storage, no allocation to fail. */
static struct ef_backend g_backends[EF_BACKEND_MAX];
static int32_t g_count;
static ef_once_flag g_once = EF_ONCE_INIT;     /* the whole list */
static ef_once_flag g_cpu_once = EF_ONCE_INIT; /* entry 0 alone */

static int name_listed(const char *name) {
    for (int32_t i = 0; i < g_count; i++)
        if (!strcmp(g_backends[i].name, name)) return 1;
    return 0;
}

static void add_cpu(void) {
    struct ef_backend *b = &g_backends[g_count++];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "cpu");
    ef_backend_cpu_iface(&b->iface);
    ef_be_probe p;
    memset(&p, 0, sizeof p);
    b->iface.probe(ef_backend_host(), &p);
    b->available = 1;
    b->score = p.score;
    b->memory = p.memory;
    b->caps = p.caps;
    snprintf(b->device, sizeof b->device, "%s", p.device);
}

/* One folder being scanned: the plugin file names in it, sorted so the
 * listing does not depend on the file system's order. */
#define SCAN_FILES_MAX 64
typedef struct scan_dir {
    const char *dir;
    int32_t n;
    char files[SCAN_FILES_MAX][256];
} scan_dir;

static void collect_file(void *user, const char *file) {
    scan_dir *sd = user;
    char name[EF_BACKEND_NAME_MAX];
    if (!ef_plugin_name_from_file(file, name, sizeof name) || strlen(file) >= sizeof sd->files[0]) return;
    if (sd->n == SCAN_FILES_MAX) {
        EF_LOGW("backend plugin %s%s%s skipped: more than %d plugin files in the folder", sd->dir, EF_DIR_SEP, file,
                SCAN_FILES_MAX);
        return;
    }
    snprintf(sd->files[sd->n++], sizeof sd->files[0], "%s", file);
}

static int cmp_files(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static void consider_file(const scan_dir *sd, const char *file) {
    char name[EF_BACKEND_NAME_MAX];
    if (!ef_plugin_name_from_file(file, name, sizeof name)) return;
    if (name_listed(name)) {
        EF_LOGD("backend plugin %s%s%s skipped: a plugin named '%s' was found first", sd->dir, EF_DIR_SEP, file,
                name);
        return;
    }
    if (g_count >= EF_BACKEND_MAX) {
        EF_LOGW("backend plugin %s%s%s skipped: more than %d backends", sd->dir, EF_DIR_SEP, file,
                EF_BACKEND_MAX);
        return;
    }
    struct ef_backend *b = &g_backends[g_count++];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    char path[EF_BACKEND_PATH_MAX];
    int n = snprintf(path, sizeof path, "%s%s%s", sd->dir, EF_DIR_SEP, file);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(b->reason, sizeof b->reason, "path of the plugin is too long");
        return;
    }
    ef_plugin_load(path, b);
    if (b->available)
        EF_LOGI("backend '%s' from %s: %s (score %d)", b->name, path, b->device, (int)b->score);
    else
        EF_LOGI("backend '%s' from %s is unavailable: %s", b->name, path, b->reason);
}

static void scan(const char *dir) {
    if (!dir[0]) return;
    static scan_dir sd; /* 16 KiB: static, discovery runs once under ef_call_once */
    memset(&sd, 0, sizeof sd);
    sd.dir = dir;
    /* a folder that does not exist is normal (EF_BACKEND_PATH, libdir) */
    if (ef_dir_each(dir, collect_file, &sd) != EF_OK) {
        ef_err_clear();
        return;
    }
    qsort(sd.files, (size_t)sd.n, sizeof sd.files[0], cmp_files);
    for (int32_t i = 0; i < sd.n; i++) consider_file(&sd, sd.files[i]);
}

/* EF_BACKEND_PATH split on ':' (';' on Windows). */
static void scan_env_path(void) {
    const char *env = getenv("EF_BACKEND_PATH");
    if (!env) return;
    while (*env) {
        const char *end = strchr(env, EF_PATH_LIST_SEP);
        size_t len = end ? (size_t)(end - env) : strlen(env);
        char dir[EF_BACKEND_PATH_MAX];
        if (len > 0 && len < sizeof dir) {
            memcpy(dir, env, len);
            dir[len] = '\0';
            scan(dir);
        }
        env += len;
        if (*env) env++;
    }
}

/* Entry 0 without scanning for plugins: a session that asks for "cpu" does
 * not load them (oneDNN and an OpenCL driver cost ~75 MiB of RSS and tens of
 * milliseconds to probe). */
static void ensure_cpu(void) { ef_call_once(&g_cpu_once, add_cpu); }

static void discover(void) {
    ensure_cpu();
    scan_env_path();
    char self[EF_BACKEND_PATH_MAX];
    if (ef_dl_self_dir(self, sizeof self) == EF_OK)
        scan(self);
    else
        ef_err_clear();
    scan(EF_INSTALL_LIBDIR);
}

static void ensure_discovered(void) { ef_call_once(&g_once, discover); }

int32_t ef_backend_registry_count(void) {
    ensure_discovered();
    return g_count;
}

const struct ef_backend *ef_backend_registry_at(int32_t index) {
    ensure_discovered();
    return index >= 0 && index < g_count ? &g_backends[index] : NULL;
}

const struct ef_backend *ef_backend_find(const char *name) {
    ensure_discovered();
    for (int32_t i = 0; name && i < g_count; i++)
        if (!strcmp(g_backends[i].name, name)) return &g_backends[i];
    return NULL;
}

/* "cpu, onednn (unavailable), ..." for messages. */
static void list_names(char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < g_count && len < cap; i++) {
        int n = snprintf(buf + len, cap - len, "%s%s%s", i ? ", " : "", g_backends[i].name,
                         g_backends[i].available ? "" : " (unavailable)");
        if (n < 0) break;
        len += (size_t)n;
    }
}

ef_status ef_backend_select(const char *name, const struct ef_backend **out) {
    *out = NULL;
    if (!name || !name[0]) name = getenv("EF_BACKEND");
    if (name && !strcmp(name, "cpu")) {
        ensure_cpu();
        *out = &g_backends[0];
        return EF_OK;
    }
    ensure_discovered();
    if (!name || !name[0] || !strcmp(name, "auto")) {
        const struct ef_backend *best = &g_backends[0]; /* cpu wins ties: it is first */
        for (int32_t i = 1; i < g_count; i++)
            if (g_backends[i].available && g_backends[i].score > best->score) best = &g_backends[i];
        *out = best;
        return EF_OK;
    }
    const struct ef_backend *b = ef_backend_find(name);
    if (!b) {
        char names[512];
        list_names(names, sizeof names);
        return ef_err(EF_ERR_UNAVAILABLE, "backend '%s' is unavailable: no such backend (listed: %s)", name, names);
    }
    if (!b->available)
        return ef_err(EF_ERR_UNAVAILABLE, "backend '%s' is unavailable: %s", name, b->reason);
    *out = b;
    return EF_OK;
}

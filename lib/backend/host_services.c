/* The services the host hands every plugin (ef_be_host): memory through the
 * library's allocator, so accounting and failure injection see it, and log
 * lines through the one log callback the application installed. */
#include "backend/backend_internal.h"

#include "base/alloc.h"
#include "base/log.h"

static void *host_alloc(void *user, size_t bytes) {
    (void)user;
    return ef_malloc(bytes ? bytes : 1);
}

static void host_free(void *user, void *ptr) {
    (void)user;
    ef_free(ptr);
}

static void host_log(void *user, int32_t level, const char *msg) {
    (void)user;
    /* the plugin ABI's levels are the public EF_LOG_* values; clamp strays */
    int32_t l = level < EF_BE_LOG_ERROR ? EF_LOG_ERROR : level > EF_BE_LOG_DEBUG ? EF_LOG_DEBUG : level;
    ef_log(l, "backend: %s", msg ? msg : "");
}

static const ef_be_host g_host = {
    EF_BACKEND_ABI_VERSION, (uint32_t)sizeof(ef_be_host), NULL, host_alloc, host_free, host_log,
};

const ef_be_host *ef_backend_host(void) { return &g_host; }

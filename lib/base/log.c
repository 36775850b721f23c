#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

static ef_log_fn g_log_fn;
static void *g_log_user;
static int32_t g_log_level = EF_LOG_INFO;

void ef_set_log_callback(ef_log_fn fn, void *user, int32_t max_level) {
    g_log_fn = fn;
    g_log_user = user;
    g_log_level = max_level;
}

void ef_log(int32_t level, const char *fmt, ...) {
    ef_log_fn fn = g_log_fn;
    if (!fn || level > g_log_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fn(g_log_user, level, line);
}

#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EF_ERRMSG_MAX 1024

static _Thread_local char tls_msg[EF_ERRMSG_MAX];

ef_status ef_err(ef_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_msg, sizeof tls_msg, fmt, ap);
    va_end(ap);
    return status;
}

ef_status ef_err_prefix(ef_status status, const char *fmt, ...) {
    char prefix[EF_ERRMSG_MAX];
    char old[EF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tls_msg, sizeof old);
    /* "prefix: old", truncated to the slot (composed by hand: truncation is intended) */
    size_t pl = strlen(prefix), ol = strlen(old), cap = sizeof tls_msg - 1, n = 0;
    size_t take = pl < cap ? pl : cap;
    memcpy(tls_msg, prefix, take);
    n = take;
    if (ol && n + 2 <= cap) {
        memcpy(tls_msg + n, ": ", 2);
        n += 2;
        take = ol < cap - n ? ol : cap - n;
        memcpy(tls_msg + n, old, take);
        n += take;
    }
    tls_msg[n] = '\0';
    return status;
}

void ef_err_clear(void) { tls_msg[0] = '\0'; }

const char *ef_err_msg(void) { return tls_msg; }

const char *ef_last_error(void) { return tls_msg; }

const char *ef_status_str(ef_status status) {
    switch (status) {
    case EF_OK: return "EF_OK";
    case EF_ERR_INVALID_ARG: return "EF_ERR_INVALID_ARG";
    case EF_ERR_NO_MEMORY: return "EF_ERR_NO_MEMORY";
    case EF_ERR_IO: return "EF_ERR_IO";
    case EF_ERR_FORMAT: return "EF_ERR_FORMAT";
    case EF_ERR_UNSUPPORTED: return "EF_ERR_UNSUPPORTED";
    case EF_ERR_BUDGET: return "EF_ERR_BUDGET";
    case EF_ERR_CONTEXT_FULL: return "EF_ERR_CONTEXT_FULL";
    case EF_ERR_CANCELLED: return "EF_ERR_CANCELLED";
    case EF_ERR_NOT_FOUND: return "EF_ERR_NOT_FOUND";
    case EF_ERR_BUFFER_TOO_SMALL: return "EF_ERR_BUFFER_TOO_SMALL";
    case EF_ERR_BACKEND: return "EF_ERR_BACKEND";
    case EF_ERR_UNAVAILABLE: return "EF_ERR_UNAVAILABLE";
    case EF_ERR_STATE: return "EF_ERR_STATE";
    case EF_ERR_MISMATCH: return "EF_ERR_MISMATCH";
    case EF_ERR_CORRUPT: return "EF_ERR_CORRUPT";
    case EF_ERR_INTERNAL: return "EF_ERR_INTERNAL";
    default: return "EF_ERR_UNKNOWN";
    }
}

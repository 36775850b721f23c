/* Internal error reporting: every failure path sets a thread-local message
 * and returns its status, so the public layer can hand both to the caller. */
#ifndef EF_BASE_ERROR_H
#define EF_BASE_ERROR_H

#include "edgeformer/edgeformer.h"

#if defined(__GNUC__) || defined(__clang__)
#  define EF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define EF_PRINTF(a, b)
#endif

/* Records a formatted message for this thread and returns `status`.
 * Typical use:  return ef_err(EF_ERR_FORMAT, "tensor '%s': bad shape", name); */
ef_status ef_err(ef_status status, const char *fmt, ...) EF_PRINTF(2, 3);

/* Prefixes the current thread-local message with "context: " (keeps status). */
ef_status ef_err_prefix(ef_status status, const char *fmt, ...) EF_PRINTF(2, 3);

/* Clears the thread-local message. */
void ef_err_clear(void);

/* The thread-local message ("" when none). */
const char *ef_err_msg(void);

/* Propagate a failing status unchanged. */
#define EF_TRY(expr)                         \
    do {                                     \
        ef_status ef_try_s_ = (expr);        \
        if (ef_try_s_ != EF_OK) return ef_try_s_; \
    } while (0)

#endif

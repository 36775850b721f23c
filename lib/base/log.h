/* Internal logging: everything goes to the one callback the host installed. */
#ifndef EF_BASE_LOG_H
#define EF_BASE_LOG_H

#include "base/error.h"

void ef_log(int32_t level, const char *fmt, ...) EF_PRINTF(2, 3);

#define EF_LOGE(...) ef_log(EF_LOG_ERROR, __VA_ARGS__)
#define EF_LOGW(...) ef_log(EF_LOG_WARN, __VA_ARGS__)
#define EF_LOGI(...) ef_log(EF_LOG_INFO, __VA_ARGS__)
#define EF_LOGD(...) ef_log(EF_LOG_DEBUG, __VA_ARGS__)

#endif

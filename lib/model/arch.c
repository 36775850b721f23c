/* The architecture registry: names as general.architecture spells them. */
#include <string.h>

#include "model/model.h"

static const char *const k_arch_names[] = {
    [EF_ARCH_LLAMA] = "llama",
    [EF_ARCH_QWEN2] = "qwen2",
};

int32_t ef_arch_from_name(const char *name) {
    if (!name) return -1;
    for (int32_t i = 0; i < (int32_t)(sizeof k_arch_names / sizeof k_arch_names[0]); i++)
        if (strcmp(k_arch_names[i], name) == 0) return i;
    return -1;
}

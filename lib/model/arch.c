/* The architecture registry: names as general.architecture spells them. */
#include <string.h>

#include "model/model.h"

static const char *const k_arch_names[] = {
    [EF_ARCH_LLAMA] = "llama",
    [EF_ARCH_QWEN2] = "qwen2",
    [EF_ARCH_DEEPSEEK2] = "deepseek2",
};

/* Architectures that run as another: the project's own "edgeformer" is
 * llama's graph — same tensor names, NORM RoPE, RMSNorm, SwiGLU — under its
 * own keys; its attention.type (mha/gqa/mla/mla_window/gqa_window, read by
 * ef_hparams_read) swaps in deepseek2's MLA tensors and/or a window. */
static const struct {
    const char *name;
    ef_arch runs_as;
} k_arch_aliases[] = {
    {"edgeformer", EF_ARCH_LLAMA},
};

int32_t ef_arch_from_name(const char *name) {
    if (!name) return -1;
    for (int32_t i = 0; i < (int32_t)(sizeof k_arch_names / sizeof k_arch_names[0]); i++)
        if (strcmp(k_arch_names[i], name) == 0) return i;
    for (size_t i = 0; i < sizeof k_arch_aliases / sizeof k_arch_aliases[0]; i++)
        if (strcmp(k_arch_aliases[i].name, name) == 0) return (int32_t)k_arch_aliases[i].runs_as;
    return -1;
}

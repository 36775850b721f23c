/* ef_call_once (base/platform.h): C11 atomics only, so it is the same on every
 * OS; callers that lose the race spin until the winner's init has finished
 * (the inits it serves are tiny: cpuid, an environment variable). */
#include <stdatomic.h>

#include "base/platform.h"

void ef_call_once(ef_once_flag *flag, void (*init)(void)) {
    if (atomic_load_explicit(&flag->state, memory_order_acquire) == 2) return;
    int expected = 0;
    if (atomic_compare_exchange_strong_explicit(&flag->state, &expected, 1, memory_order_acq_rel,
                                                memory_order_acquire)) {
        init();
        atomic_store_explicit(&flag->state, 2, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&flag->state, memory_order_acquire) != 2) {
        /* another thread is running init */
    }
}

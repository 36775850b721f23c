/* The neuron-row layout of ffn_down (cpu/sparse_ops.h) that sparse decode
 * reads, kept with the model so every sparse session of one model shares
 * one copy: built by the first session that needs it, freed with the model.
 *
 * Thread safety: the holder (a mutex and the layer list) is published with
 * a compare-and-swap, so creating it needs no lock; the build runs under
 * the holder's mutex, so two sessions starting together build it once; the
 * `built` flag (release/acquire) lets later sessions skip the mutex. A
 * failed build leaves nothing behind and the next caller tries again. */
#include <stdatomic.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/platform.h"
#include "cpu/sparse_ops.h"
#include "model/sparsity.h"
#include "quant/types.h"

struct ef_sparse_layout {
    ef_mutex *lock;        /* held while building */
    atomic_int built;      /* 1 once down[] is complete */
    int32_t n_layer;
    ef_sparse_down *down;  /* [n_layer] ffn_down as neuron rows; rows NULL for MoE layers */
    void **bufs;           /* [n_layer] the layout bytes of each layer (owned), NULL for MoE layers */
};

static void layers_free(ef_sparse_layout *l) {
    if (l->bufs)
        for (int32_t il = 0; il < l->n_layer; il++) ef_free_aligned(l->bufs[il]);
    ef_free(l->bufs);
    ef_free(l->down);
    l->bufs = NULL;
    l->down = NULL;
}

static void holder_free(ef_sparse_layout *l) {
    if (!l) return;
    layers_free(l);
    ef_mutex_free(l->lock);
    ef_free(l);
}

void ef_sparsity_layout_free(ef_model *m) {
    if (!m) return;
    holder_free(atomic_exchange(&m->sparse_layout, NULL));
}

/* Every dense layer's ffn_down laid out as neuron rows (under l->lock). */
static ef_status build(const ef_model *m, ef_sparse_layout *l) {
    const int32_t L = m->hp.n_layer;
    l->down = ef_calloc((size_t)L, sizeof *l->down);
    l->bufs = ef_calloc((size_t)L, sizeof *l->bufs);
    if (!l->down || !l->bufs) {
        layers_free(l);
        return ef_err(EF_ERR_NO_MEMORY, "out of memory for the sparse ffn_down layout list");
    }
    uint64_t total = 0;
    ef_status st = EF_OK;
    for (int32_t il = 0; st == EF_OK && il < L; il++) {
        if (m->layers[il].is_moe) continue;
        const ef_tensor *w = m->layers[il].ffn_down;
        const uint64_t bytes = ef_cpu_sparse_down_bytes(w);
        if (bytes == 0 || bytes > SIZE_MAX) {
            st = ef_err(EF_ERR_UNSUPPORTED, "sparse FFN: cannot lay out '%s' of type %s", w->name,
                        ef_type_name(w->type));
            break;
        }
        l->bufs[il] = ef_alloc_aligned((size_t)bytes);
        if (!l->bufs[il]) {
            st = ef_err(EF_ERR_NO_MEMORY, "out of memory for the sparse layout of '%s' (%llu bytes)", w->name,
                        (unsigned long long)bytes);
            break;
        }
        st = ef_cpu_sparse_down_build(w, l->bufs[il], &l->down[il]);
        total += bytes;
    }
    if (st != EF_OK) {
        layers_free(l);
        return st;
    }
    EF_LOGI("sparse FFN: ffn_down laid out as neuron rows, %.1f MiB, shared by the model's sessions",
            (double)total / (1024.0 * 1024.0));
    return EF_OK;
}

ef_status ef_sparsity_layout_get(const ef_model *cm, const ef_sparse_down **out) {
    *out = NULL;
    ef_model *m = (ef_model *)cm; /* a cache: what the model computes does not change */
    ef_sparse_layout *l = atomic_load_explicit(&m->sparse_layout, memory_order_acquire);
    if (!l) {
        ef_sparse_layout *fresh = ef_calloc(1, sizeof *fresh);
        if (!fresh) return ef_err(EF_ERR_NO_MEMORY, "out of memory for the sparse ffn_down layout");
        fresh->n_layer = m->hp.n_layer;
        ef_status st = ef_mutex_create(&fresh->lock);
        if (st != EF_OK) {
            ef_free(fresh);
            return st;
        }
        ef_sparse_layout *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(&m->sparse_layout, &expect, fresh, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            l = fresh;
        } else { /* another session published one first */
            holder_free(fresh);
            l = expect;
        }
    }
    if (!atomic_load_explicit(&l->built, memory_order_acquire)) {
        ef_mutex_lock(l->lock);
        ef_status st = EF_OK;
        if (!atomic_load_explicit(&l->built, memory_order_relaxed)) {
            st = build(m, l);
            if (st == EF_OK) atomic_store_explicit(&l->built, 1, memory_order_release);
        }
        ef_mutex_unlock(l->lock);
        if (st != EF_OK) return st;
    }
    *out = l->down;
    return EF_OK;
}

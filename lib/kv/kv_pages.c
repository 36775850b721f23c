/* The page pool: ids with refcounts, copy-on-write, raw access for reads. */
#include <string.h>

#include "kv/kv_internal.h"

/* Grows the id arrays to hold at least one free id. */
static ef_status grow_ids(ef_kv_cache *kv) {
    const int32_t cap = kv->pages_cap ? kv->pages_cap * 2 : 64;
    ef_kv_page *pages = ef_realloc(kv->pages, sizeof *pages * (size_t)cap);
    if (!pages) return ef_err(EF_ERR_NO_MEMORY, "out of memory growing the KV page table to %d pages", (int)cap);
    kv->pages = pages;
    int32_t *ids = ef_realloc(kv->free_ids, sizeof *ids * (size_t)cap);
    if (!ids) return ef_err(EF_ERR_NO_MEMORY, "out of memory growing the KV page table to %d pages", (int)cap);
    kv->free_ids = ids;
    /* new ids are free; push them so that the lowest is used first */
    for (int32_t id = cap - 1; id >= kv->pages_cap; id--) {
        memset(&kv->pages[id], 0, sizeof kv->pages[id]);
        kv->pages[id].slot = -1;
        kv->free_ids[kv->n_free++] = id;
    }
    kv->pages_cap = cap;
    return EF_OK;
}

int32_t ef_kvp_new(ef_kv_cache *kv, int32_t il, ef_status *st) {
    if (kv->n_free == 0 && (*st = grow_ids(kv)) != EF_OK) return -1;
    void *data = ef_acct_alloc(kv->acct, kv->page_bytes, "a KV-cache page", st);
    if (!data) return -1;
    const int32_t id = kv->free_ids[--kv->n_free];
    ef_kv_page *p = &kv->pages[id];
    memset(p, 0, sizeof *p);
    p->data = data;
    p->slot = -1;
    p->refs = 1;
    p->layer = il;
    p->tier = EF_KV_TIER_HOT;
    p->last_use = ++kv->clock;
    ef_kvt_count(kv, p, +1);
    return id;
}

void ef_kvp_ref(ef_kv_cache *kv, int32_t id) { kv->pages[id].refs++; }

void ef_kvp_unref(ef_kv_cache *kv, int32_t id) {
    ef_kv_page *p = &kv->pages[id];
    if (--p->refs > 0) return;
    ef_kvt_count(kv, p, -1);
    ef_kvt_drop(kv, p);
    ef_acct_free(kv->acct, p->data);
    p->data = NULL;
    kv->free_ids[kv->n_free++] = id;
}

ef_status ef_kvp_make_writable(ef_kv_cache *kv, int32_t *id) {
    ef_status st = ef_kvt_restore(kv, *id);
    if (st) return st;
    ef_kv_page *p = &kv->pages[*id];
    p->last_use = ++kv->clock;
    if (p->refs == 1) return EF_OK;
    /* shared with another sequence: this one gets its own copy */
    const int32_t copy = ef_kvp_new(kv, p->layer, &st);
    if (copy < 0) return st;
    p = &kv->pages[*id]; /* the pool may have moved */
    memcpy(kv->pages[copy].data, p->data, kv->page_bytes);
    ef_kvp_unref(kv, *id);
    *id = copy;
    return EF_OK;
}

ef_status ef_kvp_read(ef_kv_cache *kv, int32_t id, const uint8_t **bytes) {
    ef_kv_page *p = &kv->pages[id];
    p->last_use = ++kv->clock;
    kv->reads_total++;
    if (p->data) {
        kv->reads_hot += p->tier == EF_KV_TIER_HOT;
        *bytes = p->data;
        return EF_OK;
    }
    ef_status st = ef_kvt_decode(kv, id, kv->scratch_page);
    if (st) return st;
    *bytes = kv->scratch_page;
    return EF_OK;
}

void ef_kvp_free_all(ef_kv_cache *kv) {
    for (int32_t id = 0; id < kv->pages_cap; id++) {
        ef_kv_page *p = &kv->pages[id];
        if (p->refs <= 0) continue;
        ef_kvt_drop(kv, p);
        ef_acct_free(kv->acct, p->data);
    }
    ef_free(kv->pages);
    ef_free(kv->free_ids);
    kv->pages = NULL;
    kv->free_ids = NULL;
    kv->pages_cap = kv->n_free = 0;
}

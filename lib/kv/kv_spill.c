/* The disk tier: one spill file per cache in the spill directory, made of
 * page_bytes slots; freed slots are reused. Removed when the cache is freed.
 * Plain stdio through ef_fopen, so it builds the same everywhere; offsets
 * past LONG_MAX (2 GiB where long is 32 bits) are refused cleanly. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/platform.h"
#include "kv/kv_internal.h"

int (*ef_kvi_spill_fail_hook)(void);
int (*ef_kvi_spill_read_fail_hook)(void);

ef_status ef_kvs_open(ef_kv_cache *kv) {
    static atomic_int counter; /* distinct names for caches of one process (any thread) */
    const char *dir = kv->params.spill_dir;
    const size_t len = strlen(dir) + 64;
    kv->spill_path = ef_malloc(len);
    if (!kv->spill_path) return ef_err(EF_ERR_NO_MEMORY, "out of memory naming the KV spill file");
    snprintf(kv->spill_path, len, "%s" EF_DIR_SEP "edgeformer-kv-%lld-%d.spill", dir, (long long)ef_process_id(),
             atomic_fetch_add(&counter, 1));
    kv->spill = ef_fopen(kv->spill_path, "w+b");
    if (!kv->spill) {
        ef_status st = ef_err(EF_ERR_IO, "cannot create the KV spill file %s: %s", kv->spill_path, strerror(errno));
        ef_free(kv->spill_path);
        kv->spill_path = NULL;
        return st;
    }
    return EF_OK;
}

/* Positions the file at slot s; 0 on success. */
static int seek_slot(ef_kv_cache *kv, int64_t s) {
    const uint64_t off = (uint64_t)s * kv->page_bytes;
    if (off > (uint64_t)LONG_MAX) return -1;
    return fseek(kv->spill, (long)off, SEEK_SET);
}

ef_status ef_kvs_write(ef_kv_cache *kv, const void *bytes, int64_t *slot) {
    if (!kv->spill) return ef_err(EF_ERR_IO, "the KV spill file is not open");
    /* room for the slot's id first, so that releasing it later cannot fail */
    if (kv->free_slots_cap <= kv->spill_slots) {
        const int64_t cap = kv->free_slots_cap ? kv->free_slots_cap * 2 : 64;
        int64_t *grown = ef_realloc(kv->free_slots, sizeof *grown * (size_t)cap);
        if (!grown) return ef_err(EF_ERR_NO_MEMORY, "out of memory growing the KV spill slot list");
        kv->free_slots = grown;
        kv->free_slots_cap = cap;
    }
    const int fresh = kv->n_free_slots == 0;
    const int64_t s = fresh ? kv->spill_slots : kv->free_slots[kv->n_free_slots - 1];
    if (ef_kvi_spill_fail_hook && ef_kvi_spill_fail_hook())
        return ef_err(EF_ERR_IO, "cannot write a KV page to %s: no space left on device (injected)", kv->spill_path);
    if (seek_slot(kv, s) != 0)
        return ef_err(EF_ERR_IO, "cannot write a KV page to %s: offset of slot %lld out of reach", kv->spill_path,
                      (long long)s);
    /* flush too: a full disk must fail here, not later when nobody can tell */
    if (fwrite(bytes, 1, kv->page_bytes, kv->spill) != kv->page_bytes || fflush(kv->spill) != 0) {
        ef_status st = ef_err(EF_ERR_IO, "cannot write a KV page to %s: %s", kv->spill_path, strerror(errno));
        clearerr(kv->spill);
        return st;
    }
    if (fresh)
        kv->spill_slots++;
    else
        kv->n_free_slots--;
    *slot = s;
    return EF_OK;
}

ef_status ef_kvs_read(ef_kv_cache *kv, int64_t slot, void *bytes) {
    if (ef_kvi_spill_read_fail_hook && ef_kvi_spill_read_fail_hook())
        return ef_err(EF_ERR_IO, "cannot read a KV page back from %s: input/output error (injected)", kv->spill_path);
    if (seek_slot(kv, slot) != 0 || fread(bytes, 1, kv->page_bytes, kv->spill) != kv->page_bytes) {
        ef_status st = ef_err(EF_ERR_IO, "cannot read a KV page back from %s: %s", kv->spill_path,
                              ferror(kv->spill) ? strerror(errno) : "file truncated");
        clearerr(kv->spill);
        return st;
    }
    return EF_OK;
}

void ef_kvs_release(ef_kv_cache *kv, int64_t slot) {
    kv->free_slots[kv->n_free_slots++] = slot; /* room reserved by ef_kvs_write */
}

void ef_kvs_close(ef_kv_cache *kv) {
    if (kv->spill) fclose(kv->spill);
    kv->spill = NULL;
    if (kv->spill_path) ef_file_remove(kv->spill_path);
    ef_free(kv->spill_path);
    ef_free(kv->free_slots);
    kv->spill_path = NULL;
    kv->free_slots = NULL;
}

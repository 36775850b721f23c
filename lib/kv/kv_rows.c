/* One cache row between F32 and its stored type, through the kernels' own
 * row codec (cpu/kv_rows.h), so the store and the attention agree exactly. */
#include "cpu/kv_rows.h"
#include "kv/kv_internal.h"

void ef_kvr_store(uint32_t type, const float *src, int32_t width, void *dst) {
    ef_kv_row_store(type, src, width, dst);
}

void ef_kvr_load(uint32_t type, const void *src, int32_t width, float *dst) {
    const void *page = NULL;
    const ef_kv_rows one = ef_kv_rows_contiguous(type, width, 1, src, &page); /* [1][width] */
    ef_kv_rows_load(&one, 0, 1, 0, width, dst, width);
}

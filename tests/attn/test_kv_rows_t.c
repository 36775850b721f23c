/* The transposed KV row loader (backends/cpu/kv_rows.h: ef_kv_rows_load_t
 * and its AVX2 version) against the old path it replaces in the attention's
 * key tiles: rows through ef_kv_rows_load, then transposed element by
 * element. Same bits, for F32/F16/Q8_0/Q4_0 rows in pages that runs cross,
 * head sizes 16..576 (and 20: columns off the 8-lane grid), 1..1000 rows,
 * the first and a later head; and nothing written outside the block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_features.h"
#include "cpu/kv_rows.h"
#include "quant/types.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-2, 2) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 2251799813685248.0 - 2.0);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    assert_non_null(p);
    return p;
}

enum { PAGE_ROWS = 5, GUARD = 0x7fc12345 }; /* GUARD: a NaN bit pattern no load produces */

static float guard_value(void) {
    const uint32_t bits = GUARD;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Loads rows [row0, row0+n), columns [col0, col0+ncols) transposed with
 * load_t into a guarded buffer and compares with rows-then-transpose. */
static void check_one(ef_kv_load_t_fn load_t, const char *name, const ef_kv_rows *r, int64_t row0, int32_t n,
                      int32_t col0, int32_t ncols) {
    const int64_t stride = n + 5; /* columns apart, past n: must stay untouched */
    const size_t total = (size_t)(ncols + 1) * (size_t)stride;
    float *rows = xcalloc((size_t)n * (size_t)ncols, sizeof(float)); /* [n][ncols] */
    float *want = xcalloc(total, sizeof(float));                      /* [ncols+1][stride] */
    float *got = xcalloc(total, sizeof(float));                       /* [ncols+1][stride] */
    const float g = guard_value();
    for (size_t k = 0; k < total; k++) want[k] = got[k] = g;
    ef_kv_rows_load(r, row0, n, col0, ncols, rows, ncols);
    for (int32_t i = 0; i < n; i++)
        for (int32_t c = 0; c < ncols; c++) want[(int64_t)c * stride + i] = rows[(int64_t)i * ncols + c];
    load_t(r, row0, n, col0, ncols, got, stride);
    if (memcmp(want, got, total * sizeof(float)) != 0)
        fail_msg("%s: %s rows %lld+%d cols %d+%d differ from rows-then-transpose", name, ef_type_get(r->type)->name,
                 (long long)row0, (int)n, (int)col0, (int)ncols);
    free(rows), free(want), free(got);
}

/* Random rows of `type`, two heads of dk per row, in pages of PAGE_ROWS. */
typedef struct {
    ef_kv_rows r;
    void **pages;
    const void **slots;
} paged_rows;

static void paged_init(paged_rows *p, uint32_t type, int32_t width, int64_t n_rows) {
    const int64_t n_pages = (n_rows + PAGE_ROWS - 1) / PAGE_ROWS;
    p->pages = xcalloc((size_t)n_pages, sizeof(void *));
    p->slots = xcalloc((size_t)n_pages, sizeof(void *));
    p->r = (ef_kv_rows){type, width, PAGE_ROWS, n_pages, p->slots, ef_kv_row_bytes(type, width)};
    assert_true(p->r.row_bytes > 0);
    float *src = xcalloc((size_t)width, sizeof(float)); /* [width] */
    for (int64_t pg = 0; pg < n_pages; pg++) {
        p->pages[pg] = xcalloc(PAGE_ROWS, p->r.row_bytes);
        p->slots[pg] = p->pages[pg];
        for (int32_t k = 0; k < PAGE_ROWS; k++) {
            for (int32_t c = 0; c < width; c++) src[c] = frand();
            ef_kv_row_store(type, src, width, (char *)p->pages[pg] + (size_t)k * p->r.row_bytes);
        }
    }
    free(src);
}

static void paged_free(paged_rows *p) {
    for (int64_t pg = 0; pg < p->r.n_pages; pg++) free(p->pages[pg]);
    free(p->pages), free(p->slots);
}

static void test_transposed_matches_rows(void **state) {
    (void)state;
    const uint32_t types[4] = {EF_TYPE_F32, EF_TYPE_F16, EF_TYPE_Q8_0, EF_TYPE_Q4_0};
    const int32_t dks[7] = {16, 20, 24, 64, 80, 128, 576};
    const int32_t ns[4] = {1, 255, 257, 1000};
    /* the reference, and the AVX2 loader where this CPU and build have it */
    const int have_avx2 = ef_cpu_simd_x86(ef_cpu_simd_supported()) && ef_kv_rows_avx2_built();
    int checked = 0;
    for (int ti = 0; ti < 4; ti++)
        for (int di = 0; di < 7; di++) {
            const int32_t dk = dks[di];
            const int quant = types[ti] == EF_TYPE_Q8_0 || types[ti] == EF_TYPE_Q4_0;
            if (quant && dk % 32) continue; /* quantized heads are whole blocks */
            paged_rows p;
            paged_init(&p, types[ti], 2 * dk, 1000 + 3);
            for (int ni = 0; ni < 4; ni++)
                for (int32_t head = 0; head < 2; head++) {
                    const int64_t row0 = ns[ni] < 1000 ? 2 : 0; /* off the page edge where there is room */
                    check_one(ef_kv_rows_load_t, "reference", &p.r, row0, ns[ni], head * dk, dk);
                    if (have_avx2) check_one(ef_kv_rows_load_t_avx2, "avx2", &p.r, row0, ns[ni], head * dk, dk);
                    checked++;
                }
            if (!quant) { /* a slice off every grid: column 3, 13 wide */
                check_one(ef_kv_rows_load_t, "reference", &p.r, 1, 17, 3, 13);
                if (have_avx2) check_one(ef_kv_rows_load_t_avx2, "avx2", &p.r, 1, 17, 3, 13);
            }
            paged_free(&p);
        }
    print_message("  %d (type, head size, rows, head) loads checked, avx2 %s\n", checked,
                  have_avx2 ? "too" : "not on this CPU/build");
    assert_true(checked > 0);
}

/* The attention takes the transposed loader only where a SIMD level has
 * one; at the scalar level it keeps rows then a transpose. */
static void test_pick(void **state) {
    (void)state;
    ef_cpu_simd_force(EF_CPU_SIMD_SCALAR);
    assert_null(ef_kv_pick_load_t());
    ef_cpu_simd_force(-1);
    if (ef_cpu_simd_x86(ef_cpu_simd_active()) && ef_kv_rows_avx2_built())
        assert_ptr_equal(ef_kv_pick_load_t(), ef_kv_rows_load_t_avx2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transposed_matches_rows),
        cmocka_unit_test(test_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

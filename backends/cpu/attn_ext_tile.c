/* The tiled ef_cpu_attn_ext driver (see attn_ext_tile.h): work split, tile
 * loading through ring-mapped and paged rows, the window/sink/causal mask,
 * split-key decode with an ordered combine; and the scalar reference pair
 * of tile kernels the SIMD pairs are checked against. */
#include "cpu/attn_ext_tile.h"

#include <math.h>
#include <string.h>

#include "cpu/cpu_features.h"
#include "quant/types.h"

static int32_t round8(int32_t n) { return (n + 7) & ~7; }
static int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }
static int32_t max32(int32_t a, int32_t b) { return a > b ? a : b; }

/* ---- scalar reference kernels ---- */

void ef_attn_ext_scores(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, float *s) {
    const int32_t cols = min32((tile->n + 15) & ~15, EF_ATTN_EXT_TILE);
    for (int32_t r = 0; r < rows->n_rows; r++) {
        const float *q = rows->q + (r / rows->group) * rows->q_tstride + (int64_t)(r % rows->group) * rows->dk; /* [dk] */
        for (int32_t i = 0; i < cols; i++) {
            float dot = 0.0f;
            for (int32_t d = 0; d < rows->dk; d++) dot += q[d] * tile->kt[(int64_t)d * EF_ATTN_EXT_TILE + i];
            s[(int64_t)r * EF_ATTN_EXT_TILE + i] = dot * rows->scale;
        }
    }
}

void ef_attn_ext_fold(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, const uint8_t *live,
                      int32_t i0, int32_t i1, float *s) {
    for (int32_t r = 0; r < rows->n_rows; r++) {
        if (!live[r]) continue;
        float *p = s + (int64_t)r * EF_ATTN_EXT_TILE;      /* [TILE] scores, then weights */
        float *acc = rows->acc + (int64_t)r * rows->dv_pad; /* [dv_pad] */
        float mx = -INFINITY;
        for (int32_t i = 0; i < EF_ATTN_EXT_TILE; i++) mx = p[i] > mx ? p[i] : mx;
        const float m_new = mx > rows->m[r] ? mx : rows->m[r];
        const float corr = expf(rows->m[r] - m_new); /* 0 when nothing was summed yet */
        float sum = 0.0f;
        for (int32_t i = 0; i < EF_ATTN_EXT_TILE; i++) {
            p[i] = expf(p[i] - m_new); /* masked: exp(−inf) = 0 */
            sum += p[i];
        }
        rows->l[r] = rows->l[r] * corr + sum;
        rows->m[r] = m_new;
        if (corr != 1.0f)
            for (int32_t d = 0; d < rows->dv_pad; d++) acc[d] *= corr;
        for (int32_t i = i0; i < i1; i++) {
            const float *v = tile->v + i * tile->v_stride; /* [dv_pad] */
            for (int32_t d = 0; d < rows->dv_pad; d++) acc[d] += p[i] * v[d];
        }
    }
}

ef_attn_ext_kernels ef_attn_ext_pick_kernels(void) {
    ef_attn_ext_kernels k = {NULL, NULL};
    if (ef_cpu_simd_x86(ef_cpu_simd_active()) && ef_attn_ext_avx2_built()) {
        k.scores = ef_attn_ext_scores_avx2;
        k.fold = ef_attn_ext_fold_avx2;
    }
    return k;
}

/* ---- geometry ---- */

static int32_t group_of(const ef_attn_ext *a) { return a->n_head / a->n_head_kv; }

/* Query tokens per prefill task. */
static int32_t q_tokens(const ef_attn_ext *a) { return max32(1, EF_ATTN_EXT_ROWS / group_of(a)); }

/* Most rows a task holds (prefill block or decode tokens). */
static int32_t rows_cap(const ef_attn_ext *a) {
    return max32(q_tokens(a), EF_ATTN_EXT_DECODE_MAX_TOK) * group_of(a);
}

/* K and V heads are the very same elements (MLA absorbed: V is K's latent
 * row), so one load serves both. */
static int same_heads(const ef_attn_ext *a) {
    return a->dk == a->dv && a->k.type == a->v.type && a->k.pages == a->v.pages &&
           a->k.page_rows == a->v.page_rows && a->k.row_bytes == a->v.row_bytes;
}

/* Split-key decode partials per worker: every (KV head, split) slot once,
 * since one worker may run them all. */
static int64_t partial_floats(const ef_attn_ext *a) {
    return (int64_t)a->n_head_kv * EF_ATTN_EXT_SPLITS * EF_ATTN_EXT_DECODE_MAX_TOK * group_of(a) *
           (round8(a->dv) + 2);
}

/* One worker's scratch, carved from its block. */
typedef struct {
    float *k_rows;  /* [TILE][round8(dk)] keys as loaded (and the values when shared) */
    float *kt;      /* [dk][TILE] keys transposed */
    float *v_rows;  /* [TILE][dv_pad] values as loaded */
    float *s;       /* [rows_cap][TILE] scores, then weights */
    float *acc;     /* [rows_cap][dv_pad] prefill accumulators */
    float *m, *l;   /* [rows_cap] prefill softmax state */
    uint8_t *live;  /* [rows_cap] rows that see the current tile */
    float *partial; /* [n_head_kv*SPLITS][DECODE_MAX_TOK*group][dv_pad + 2] decode slots */
} worker_scratch;

int64_t ef_cpu_attn_ext_tiled_scratch_floats(const ef_attn_ext *a) {
    const int64_t dkp = round8(a->dk), dvp = round8(a->dv), rows = rows_cap(a);
    const int64_t n = EF_ATTN_EXT_TILE * (dkp + a->dk + dvp) + rows * (EF_ATTN_EXT_TILE + dvp + 2) +
                      (rows + 3) / 4 + partial_floats(a);
    return (n + 15) & ~(int64_t)15; /* each worker's block on its own cache line */
}

static worker_scratch scratch_of(const ef_attn_ext *a, float *scratch, int32_t ith) {
    const int64_t dkp = round8(a->dk), dvp = round8(a->dv), rows = rows_cap(a);
    float *p = scratch + (int64_t)ith * ef_cpu_attn_ext_scratch_floats(a);
    worker_scratch w;
    w.k_rows = p, p += EF_ATTN_EXT_TILE * dkp;
    w.kt = p, p += EF_ATTN_EXT_TILE * (int64_t)a->dk;
    w.v_rows = p, p += EF_ATTN_EXT_TILE * dvp;
    w.s = p, p += rows * EF_ATTN_EXT_TILE;
    w.acc = p, p += rows * dvp;
    w.m = p, p += rows;
    w.l = p, p += rows;
    w.live = (uint8_t *)p, p += (rows + 3) / 4;
    w.partial = p;
    return w;
}

/* The key tiles a set of query positions [pos_a, pos_b] needs, in order:
 * the sink tiles [0, n_sink_tiles), then the window's tiles
 * [win_t0, win_t1). */
typedef struct {
    int32_t n_sink_tiles, win_t0, win_t1;
} tile_span;

static tile_span span_of(const ef_attn_ext *a, int64_t pos_a, int64_t pos_b) {
    tile_span sp = {0, 0, (int32_t)(pos_b / EF_ATTN_EXT_TILE) + 1};
    if (a->window > 0) {
        const int64_t first = pos_a - a->window + 1; /* the earliest window position any row sees */
        if (first > 0) sp.win_t0 = (int32_t)(first / EF_ATTN_EXT_TILE);
        if (a->n_sinks > 0) {
            const int64_t sink_end = a->n_sinks < pos_b + 1 ? a->n_sinks : pos_b + 1;
            sp.n_sink_tiles = (int32_t)((sink_end + EF_ATTN_EXT_TILE - 1) / EF_ATTN_EXT_TILE);
        }
        if (sp.win_t0 < sp.n_sink_tiles) sp.win_t0 = sp.n_sink_tiles; /* each tile once */
    }
    return sp;
}

static int32_t span_count(const tile_span *sp) { return sp->n_sink_tiles + max32(0, sp->win_t1 - sp->win_t0); }

static int32_t span_tile(const tile_span *sp, int32_t k) {
    return k < sp->n_sink_tiles ? k : sp->win_t0 + (k - sp->n_sink_tiles);
}

/* ---- tile loading ---- */

/* dst[i][0..ncols) = columns col0.. of the cache row of position p0+i, as
 * F32, for i < n; rows follow the ring, in runs of consecutive rows. */
static void load_positions(ef_kv_load_fn load, const ef_attn_ext *a, const ef_kv_rows *r, int64_t p0, int32_t n,
                           int32_t col0, int32_t ncols, float *dst, int64_t dst_stride) {
    for (int32_t i = 0; i < n;) {
        const int64_t row = ef_attn_ring_row(p0 + i, a->ring_rows, a->n_sinks);
        int32_t run = 1; /* positions whose rows follow on: up to the ring's end or the sinks' end */
        while (i + run < n && ef_attn_ring_row(p0 + i + run, a->ring_rows, a->n_sinks) == row + run) run++;
        load(r, row, run, col0, ncols, dst + (int64_t)i * dst_stride, dst_stride);
        i += run;
    }
}

/* Loads tile p0 (n positions) of KV head g into the worker's buffers. */
static ef_attn_ext_tile load_tile(const ef_attn_ext *a, ef_kv_load_fn load, const worker_scratch *w, int32_t g,
                                  int64_t p0, int32_t n) {
    const int32_t dk = a->dk, dkp = round8(dk), dvp = round8(a->dv);
    const int32_t cols = min32((n + 15) & ~15, EF_ATTN_EXT_TILE); /* the scores kernels read this far */
    if (a->k.type == EF_TYPE_F32 && !same_heads(a)) {
        /* F32 keys: transposed straight from the cache rows, no copy between */
        for (int32_t i = 0; i < n; i++) {
            const float *k = (const float *)ef_kv_row(&a->k, ef_attn_ring_row(p0 + i, a->ring_rows, a->n_sinks)) +
                             (int64_t)g * dk; /* [dk] */
            for (int32_t d = 0; d < dk; d++) w->kt[(int64_t)d * EF_ATTN_EXT_TILE + i] = k[d];
        }
    } else {
        load_positions(load, a, &a->k, p0, n, g * dk, dk, w->k_rows, dkp); /* [n][dkp] */
        for (int32_t i = 0; i < n; i++) {
            const float *k = w->k_rows + (int64_t)i * dkp; /* [dkp] */
            for (int32_t d = 0; d < dk; d++) w->kt[(int64_t)d * EF_ATTN_EXT_TILE + i] = k[d];
            for (int32_t d = dk; d < dkp; d++) w->k_rows[(int64_t)i * dkp + d] = 0.0f;
        }
    }
    for (int32_t d = 0; d < dk; d++)
        for (int32_t i = n; i < cols; i++) w->kt[(int64_t)d * EF_ATTN_EXT_TILE + i] = 0.0f;
    ef_attn_ext_tile t = {w->kt, w->k_rows, dkp, n};
    if (!same_heads(a)) {
        load_positions(load, a, &a->v, p0, n, g * a->dv, a->dv, w->v_rows, dvp); /* [n][dvp] */
        for (int32_t i = 0; i < n; i++)
            for (int32_t d = a->dv; d < dvp; d++) w->v_rows[(int64_t)i * dvp + d] = 0.0f;
        t.v = w->v_rows;
        t.v_stride = dvp;
    }
    return t;
}

/* ---- the mask ---- */

/* Row r of a task whose token 0 sits at position pos0: sets s[r][i] = −inf
 * where position p0+i is hidden from it (after it, before its window and
 * not a sink, or past the tile), live[r] to whether it sees anything, and
 * widens [*i0, *i1) to the positions it sees. */
static void mask_rows(const ef_attn_ext *a, const ef_attn_ext_rows *rows, int64_t pos0, int64_t p0, int32_t n,
                      float *s, uint8_t *live, int32_t *i0, int32_t *i1) {
    *i0 = EF_ATTN_EXT_TILE;
    *i1 = 0;
    for (int32_t r = 0; r < rows->n_rows; r++) {
        const int64_t pos = pos0 + r / rows->group;
        const int32_t hi = (int32_t)(pos - p0 + 1 < n ? (pos - p0 + 1 > 0 ? pos - p0 + 1 : 0) : n);
        int32_t lo = 0, sink_hi = 0; /* visible: [0, sink_hi) ∪ [lo, hi) */
        if (a->window > 0) {
            const int64_t first = pos - a->window + 1;
            lo = (int32_t)(first - p0 > 0 ? (first - p0 < hi ? first - p0 : hi) : 0);
            sink_hi = (int32_t)(a->n_sinks - p0 > 0 ? (a->n_sinks - p0 < hi ? a->n_sinks - p0 : hi) : 0);
            if (sink_hi >= lo) lo = sink_hi = 0; /* the sinks touch the window: one range */
        }
        live[r] = lo < hi || sink_hi > 0;
        if (!live[r]) continue;
        float *sr = s + (int64_t)r * EF_ATTN_EXT_TILE; /* [TILE] */
        for (int32_t i = sink_hi; i < lo; i++) sr[i] = -INFINITY;
        for (int32_t i = hi; i < EF_ATTN_EXT_TILE; i++) sr[i] = -INFINITY;
        *i0 = min32(*i0, sink_hi > 0 ? 0 : lo);
        *i1 = max32(*i1, hi);
    }
}

/* ---- prefill: one task per (query block, KV head) ---- */

typedef struct {
    const ef_attn_ext *a;
    const ef_attn_ext_kernels *kern;
    ef_kv_load_fn load;
    const float *q;
    float *scratch;
    float *out;
    int32_t q_tokens, n_blocks;
    int32_t nth; /* decode: workers of the fold pass, for the slot layout */
} ext_job;

static void fold_tiles(const ext_job *j, const worker_scratch *w, const ef_attn_ext_rows *rows, int32_t g,
                       int64_t pos0, const tile_span *sp, int32_t k0, int32_t k1) {
    const ef_attn_ext *a = j->a;
    const int64_t last = pos0 + (rows->n_rows - 1) / rows->group; /* the task's last query position */
    for (int32_t k = k0; k < k1; k++) {
        const int64_t p0 = (int64_t)span_tile(sp, k) * EF_ATTN_EXT_TILE;
        const int32_t n = (int32_t)(last + 1 - p0 < EF_ATTN_EXT_TILE ? last + 1 - p0 : EF_ATTN_EXT_TILE);
        const ef_attn_ext_tile tile = load_tile(a, j->load, w, g, p0, n);
        j->kern->scores(rows, &tile, w->s);
        int32_t i0, i1;
        mask_rows(a, rows, pos0, p0, n, w->s, w->live, &i0, &i1);
        if (i0 < i1) j->kern->fold(rows, &tile, w->live, i0, i1, w->s);
    }
}

static void reset_rows(const ef_attn_ext_rows *rows) {
    for (int32_t r = 0; r < rows->n_rows; r++) {
        rows->m[r] = -INFINITY;
        rows->l[r] = 0.0f;
        memset(rows->acc + (int64_t)r * rows->dv_pad, 0, sizeof(float) * (size_t)rows->dv_pad);
    }
}

static void prefill_task(const ext_job *j, const worker_scratch *w, int32_t block, int32_t g) {
    const ef_attn_ext *a = j->a;
    const int32_t group = group_of(a), t0 = block * j->q_tokens;
    const int32_t nt = min32(j->q_tokens, a->n_tok - t0), dvp = round8(a->dv);
    const int64_t q_tstride = (int64_t)a->n_head * a->dk, pos0 = (int64_t)a->n_past + t0;
    const int64_t h0 = (int64_t)t0 * a->n_head + (int64_t)g * group; /* first query row (token t0, head g*group) */
    const ef_attn_ext_rows rows = {nt * group, group, a->dk, dvp, a->scale, j->q + h0 * a->dk, q_tstride,
                                   w->acc, w->m, w->l};
    reset_rows(&rows);
    const tile_span sp = span_of(a, pos0, pos0 + nt - 1);
    fold_tiles(j, w, &rows, g, pos0, &sp, 0, span_count(&sp));
    for (int32_t r = 0; r < rows.n_rows; r++) {
        float *o = j->out + (h0 + (int64_t)(r / group) * a->n_head + r % group) * a->dv; /* [dv] */
        const float inv = 1.0f / rows.l[r];
        for (int32_t d = 0; d < a->dv; d++) o[d] = rows.acc[(int64_t)r * dvp + d] * inv;
    }
}

static void prefill_worker(void *ctx, int32_t ith, int32_t nth) {
    const ext_job *j = ctx;
    const worker_scratch w = scratch_of(j->a, j->scratch, ith);
    const int32_t n_tasks = j->n_blocks * j->a->n_head_kv;
    for (int32_t i = ith; i < n_tasks; i += nth) prefill_task(j, &w, i / j->a->n_head_kv, i % j->a->n_head_kv);
}

/* ---- decode: one task per (KV head, split of the visible tiles) ---- */

static int32_t n_splits(const tile_span *sp) { return min32(EF_ATTN_EXT_SPLITS, max32(1, span_count(sp))); }

/* Task i's partial rows (max, sum, acc) live in worker i % nth, slot i / nth. */
static ef_attn_ext_rows decode_slot(const ext_job *j, int32_t task) {
    const ef_attn_ext *a = j->a;
    const int32_t group = group_of(a), dvp = round8(a->dv), n_rows = a->n_tok * group;
    const worker_scratch w = scratch_of(a, j->scratch, task % j->nth);
    const int64_t slot_floats = (int64_t)EF_ATTN_EXT_DECODE_MAX_TOK * group * (dvp + 2);
    float *p = w.partial + (int64_t)(task / j->nth) * slot_floats; /* [n_rows][dvp] acc, [n_rows] m, l */
    const ef_attn_ext_rows rows = {n_rows, group, a->dk, dvp, a->scale, NULL, (int64_t)a->n_head * a->dk,
                                   p, p + (int64_t)n_rows * dvp, p + (int64_t)n_rows * (dvp + 1)};
    return rows;
}

static void decode_worker(void *ctx, int32_t ith, int32_t nth) {
    const ext_job *j = ctx;
    const ef_attn_ext *a = j->a;
    const worker_scratch w = scratch_of(a, j->scratch, ith);
    const tile_span sp = span_of(a, a->n_past, (int64_t)a->n_past + a->n_tok - 1);
    const int32_t S = n_splits(&sp), n_vis = span_count(&sp), group = group_of(a);
    for (int32_t i = ith; i < a->n_head_kv * S; i += nth) {
        const int32_t g = i / S, s = i % S;
        ef_attn_ext_rows rows = decode_slot(j, i);
        rows.q = j->q + (int64_t)g * group * a->dk;
        reset_rows(&rows);
        fold_tiles(j, &w, &rows, g, a->n_past, &sp, (int32_t)((int64_t)s * n_vis / S),
                   (int32_t)((int64_t)(s + 1) * n_vis / S));
    }
}

/* One worker per output row (token, head): the splits' states merged in
 * order 0, 1, ..., then divided. */
static void decode_reduce(void *ctx, int32_t ith, int32_t nth) {
    const ext_job *j = ctx;
    const ef_attn_ext *a = j->a;
    const tile_span sp = span_of(a, a->n_past, (int64_t)a->n_past + a->n_tok - 1);
    const int32_t S = n_splits(&sp), group = group_of(a), dvp = round8(a->dv);
    int64_t r0, r1;
    ef_split_range((int64_t)a->n_tok * a->n_head, ith, nth, &r0, &r1);
    for (int64_t o = r0; o < r1; o++) { /* o = t*n_head + h, out's row layout */
        const int32_t t = (int32_t)(o / a->n_head), h = (int32_t)(o % a->n_head);
        const int32_t g = h / group, r = t * group + h % group; /* row r of KV head g's tasks */
        float *out = j->out + o * a->dv; /* [dv] running acc, then the result */
        float M = -INFINITY, L = 0.0f;
        memset(out, 0, sizeof(float) * (size_t)a->dv);
        for (int32_t s = 0; s < S; s++) {
            const ef_attn_ext_rows part = decode_slot(j, g * S + s);
            const float m = part.m[r], l = part.l[r];
            if (l == 0.0f) continue; /* the split saw nothing this row may see */
            const float *acc = part.acc + (int64_t)r * dvp;
            const float M_new = m > M ? m : M, ca = expf(M - M_new), cb = expf(m - M_new);
            for (int32_t d = 0; d < a->dv; d++) out[d] = out[d] * ca + acc[d] * cb;
            L = L * ca + l * cb;
            M = M_new;
        }
        const float inv = 1.0f / L;
        for (int32_t d = 0; d < a->dv; d++) out[d] *= inv;
    }
}

void ef_cpu_attn_ext_tiled(ef_pool *pool, const ef_attn_ext *a, const ef_attn_ext_kernels *kern, const float *q,
                           float *scratch, float *out) {
    const int32_t qt = q_tokens(a);
    ext_job job = {a, kern, ef_kv_pick_load(), q, scratch, out, qt, (a->n_tok + qt - 1) / qt, ef_pool_size(pool)};
    if (a->n_tok <= EF_ATTN_EXT_DECODE_MAX_TOK) {
        ef_pool_run(pool, decode_worker, &job);
        ef_pool_run(pool, decode_reduce, &job);
    } else {
        ef_pool_run(pool, prefill_worker, &job);
    }
}

/* The tiled ef_cpu_attn_ext driver (see attn_ext_tile.h): work split, tile
 * loading through ring-mapped and paged rows, the window/sink/causal mask,
 * the chunk states and their ordered merge (prefill: in the task; decode:
 * chunks in parallel, merged after); and the scalar reference pair
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
        const float corr = exp2f(rows->m[r] - m_new); /* 0 when nothing was summed yet */
        float sum = 0.0f;
        for (int32_t i = 0; i < EF_ATTN_EXT_TILE; i++) {
            p[i] = exp2f(p[i] - m_new); /* masked: 2^−inf = 0 */
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
    const ef_cpu_simd level = ef_cpu_simd_active();
    if (level == EF_CPU_SIMD_AVX512 && ef_attn_ext_avx512_built()) {
        k.scores = ef_attn_ext_scores_avx512;
        k.fold = ef_attn_ext_fold_avx512;
    } else if (ef_cpu_simd_x86(level) && ef_attn_ext_avx2_built()) {
        k.scores = ef_attn_ext_scores_avx2;
        k.fold = ef_attn_ext_fold_avx2;
    }
    return k;
}

/* ---- geometry ---- */

enum { TILES_PER_CHUNK = EF_ATTN_EXT_CHUNK / EF_ATTN_EXT_TILE };

static int32_t group_of(const ef_attn_ext *a) { return a->n_head / a->n_head_kv; }

/* The kernels' score scale: log2(e) folded in, so their softmax is 2^(s − m). */
static float base2_scale(const ef_attn_ext *a) { return a->scale * 1.44269504088896341f; }

/* Query tokens per prefill task. */
static int32_t q_tokens(const ef_attn_ext *a) { return max32(1, EF_ATTN_EXT_ROWS / group_of(a)); }

/* Most rows a task holds (prefill block or decode tokens). */
static int32_t rows_cap(const ef_attn_ext *a) {
    return max32(q_tokens(a), EF_ATTN_EXT_DECODE_MAX_TOK) * group_of(a);
}

/* Query tokens the kernels take at a time within a task. */
static int32_t sub_tokens(const ef_attn_ext *a) { return max32(1, EF_ATTN_EXT_SUB_ROWS / group_of(a)); }

/* Most rows the kernels take at a time: the scores buffer's rows. */
static int32_t sub_cap(const ef_attn_ext *a) { return min32(sub_tokens(a) * group_of(a), rows_cap(a)); }

/* V heads are the first dv elements of the K heads' very rows, so one load
 * serves both: dk == dv (the same elements), or one KV head with dv < dk
 * (MLA absorbed: V = c_kv, the first kv_lora of the latent row
 * [c_kv ‖ k_pe]; head g > 0 would start at g·dv ≠ g·dk). */
static int same_heads(const ef_attn_ext *a) {
    return a->dv <= a->dk && (a->dk == a->dv || a->n_head_kv == 1) && a->k.type == a->v.type &&
           a->k.pages == a->v.pages && a->k.page_rows == a->v.page_rows && a->k.row_bytes == a->v.row_bytes;
}

/* Floats of one decode partial: a chunk's (acc, m, l) for every row. */
static int64_t slot_floats(const ef_attn_ext *a) {
    return (int64_t)EF_ATTN_EXT_DECODE_MAX_TOK * group_of(a) * (round8(a->dv) + 2);
}

/* Decode partials per worker: SPLITS chunks of every KV head per wave. */
static int64_t partial_floats(const ef_attn_ext *a) {
    return (int64_t)a->n_head_kv * EF_ATTN_EXT_SPLITS * slot_floats(a);
}

/* One worker's scratch, carved from its block. */
typedef struct {
    float *k_rows;  /* [TILE][round8(dk)] keys as loaded (and the values when shared) */
    float *kt;      /* [dk][TILE] keys transposed */
    float *v_rows;  /* [TILE][dv_pad] values as loaded */
    float *s;       /* [sub_cap][TILE] scores, then weights, of the rows the kernels have */
    float *acc;     /* [rows_cap][dv_pad] prefill: the current chunk's accumulators */
    float *m, *l;   /* [rows_cap] prefill: the current chunk's softmax state */
    float *M, *L;   /* [rows_cap] prefill: the running state merged over the chunks so far (its acc is out) */
    float *run_ml;  /* [2][DECODE_MAX_TOK*n_head] decode (worker 0's only): running M, L per output row */
    uint8_t *live;  /* [sub_cap] rows that see the current tile */
    float *partial; /* [n_head_kv*SPLITS][slot_floats] decode: this worker's chunk partials of a wave */
} worker_scratch;

int64_t ef_cpu_attn_ext_tiled_scratch_floats(const ef_attn_ext *a) {
    const int64_t dkp = round8(a->dk), dvp = round8(a->dv), rows = rows_cap(a), sub = sub_cap(a);
    const int64_t n = EF_ATTN_EXT_TILE * (dkp + a->dk + dvp) + sub * EF_ATTN_EXT_TILE + rows * (dvp + 4) +
                      2 * (int64_t)EF_ATTN_EXT_DECODE_MAX_TOK * a->n_head + (sub + 3) / 4 + partial_floats(a);
    return (n + 15) & ~(int64_t)15; /* each worker's block on its own cache line */
}

static worker_scratch scratch_of(const ef_attn_ext *a, float *scratch, int32_t ith) {
    const int64_t dkp = round8(a->dk), dvp = round8(a->dv), rows = rows_cap(a), sub = sub_cap(a);
    float *p = scratch + (int64_t)ith * ef_cpu_attn_ext_scratch_floats(a);
    worker_scratch w;
    w.k_rows = p, p += EF_ATTN_EXT_TILE * dkp;
    w.kt = p, p += EF_ATTN_EXT_TILE * (int64_t)a->dk;
    w.v_rows = p, p += EF_ATTN_EXT_TILE * dvp;
    w.s = p, p += sub * EF_ATTN_EXT_TILE;
    w.acc = p, p += rows * dvp;
    w.m = p, p += rows;
    w.l = p, p += rows;
    w.M = p, p += rows;
    w.L = p, p += rows;
    w.run_ml = p, p += 2 * (int64_t)EF_ATTN_EXT_DECODE_MAX_TOK * a->n_head;
    w.live = (uint8_t *)p, p += (sub + 3) / 4;
    w.partial = p;
    return w;
}

/* The key tiles a set of query positions [pos_a, pos_b] needs: the sink
 * tiles [0, n_sink_tiles), then the window's tiles [win_t0, win_t1); and
 * the chunks holding them, [0, n_sink_chunks) then [win_c0, win_c1). */
typedef struct {
    int32_t n_sink_tiles, win_t0, win_t1;
    int32_t n_sink_chunks, win_c0, win_c1;
} tile_span;

static tile_span span_of(const ef_attn_ext *a, int64_t pos_a, int64_t pos_b) {
    tile_span sp = {0, 0, (int32_t)(pos_b / EF_ATTN_EXT_TILE) + 1, 0, 0, 0};
    if (a->window > 0) {
        const int64_t first = pos_a - a->window + 1; /* the earliest window position any row sees */
        if (first > 0) sp.win_t0 = (int32_t)(first / EF_ATTN_EXT_TILE);
        if (a->n_sinks > 0) {
            const int64_t sink_end = a->n_sinks < pos_b + 1 ? a->n_sinks : pos_b + 1;
            sp.n_sink_tiles = (int32_t)((sink_end + EF_ATTN_EXT_TILE - 1) / EF_ATTN_EXT_TILE);
        }
        if (sp.win_t0 < sp.n_sink_tiles) sp.win_t0 = sp.n_sink_tiles; /* each tile once */
    }
    sp.n_sink_chunks = (sp.n_sink_tiles + TILES_PER_CHUNK - 1) / TILES_PER_CHUNK;
    sp.win_c0 = max32(sp.win_t0 / TILES_PER_CHUNK, sp.n_sink_chunks); /* a chunk shared with the sinks: once */
    sp.win_c1 = max32(sp.win_c0, (sp.win_t1 + TILES_PER_CHUNK - 1) / TILES_PER_CHUNK);
    return sp;
}

static int32_t chunk_count(const tile_span *sp) { return sp->n_sink_chunks + (sp->win_c1 - sp->win_c0); }

/* The k-th chunk of the span, k < chunk_count. */
static int32_t span_chunk(const tile_span *sp, int32_t k) {
    return k < sp->n_sink_chunks ? k : sp->win_c0 + (k - sp->n_sink_chunks);
}

static int tile_in_span(const tile_span *sp, int32_t t) {
    return t < sp->n_sink_tiles || (t >= sp->win_t0 && t < sp->win_t1);
}

/* ---- tile loading ---- */

/* Columns col0.. of the cache rows of positions p0 .. p0+n−1 as F32 through
 * `load`, position i's at dst + i*pos_step: a row loader (pos_step =
 * dst_stride, dst [n][dst_stride]) or a transposed one (pos_step = 1, dst
 * [ncols][dst_stride]). Rows follow the ring, in runs of consecutive rows. */
static void load_positions(ef_kv_load_fn load, const ef_attn_ext *a, const ef_kv_rows *r, int64_t p0, int32_t n,
                           int32_t col0, int32_t ncols, float *dst, int64_t dst_stride, int64_t pos_step) {
    for (int32_t i = 0; i < n;) {
        const int64_t row = ef_attn_ring_row(p0 + i, a->ring_rows, a->n_sinks);
        int32_t run = 1; /* positions whose rows follow on: up to the ring's end or the sinks' end */
        while (i + run < n && ef_attn_ring_row(p0 + i + run, a->ring_rows, a->n_sinks) == row + run) run++;
        load(r, row, run, col0, ncols, dst + (int64_t)i * pos_step, dst_stride);
        i += run;
    }
}

/* kt[d][i] = k[i][d] for i < n, d < dk, from rows k [n][dkp]: through the
 * transposed loader where there is one (an F32 view of the rows), else
 * element by element. */
static void transpose_rows(ef_kv_load_t_fn load_t, const float *k, int32_t n, int32_t dk, int32_t dkp, float *kt) {
    if (load_t) {
        const void *page;
        const ef_kv_rows view = ef_kv_rows_contiguous(EF_TYPE_F32, dkp, n, k, &page); /* [n][dkp] */
        load_t(&view, 0, n, 0, dk, kt, EF_ATTN_EXT_TILE);
        return;
    }
    for (int32_t i = 0; i < n; i++)
        for (int32_t d = 0; d < dk; d++) kt[(int64_t)d * EF_ATTN_EXT_TILE + i] = k[(int64_t)i * dkp + d];
}

/* Loads tile p0 (n positions) of KV head g into the worker's buffers. */
static ef_attn_ext_tile load_tile(const ef_attn_ext *a, ef_kv_load_fn load, ef_kv_load_t_fn load_t,
                                  const worker_scratch *w, int32_t g, int64_t p0, int32_t n) {
    const int32_t dk = a->dk, dkp = round8(dk), dvp = round8(a->dv);
    const int32_t cols = min32((n + 15) & ~15, EF_ATTN_EXT_TILE); /* the scores kernels read this far */
    ef_attn_ext_tile t = {w->kt, w->k_rows, dkp, n};
    if (load_t && !same_heads(a)) { /* keys straight from the cache into kt [dk][TILE] */
        load_positions(load_t, a, &a->k, p0, n, g * dk, dk, w->kt, EF_ATTN_EXT_TILE, 1);
    } else { /* rows (the values too when shared), then kt from them */
        load_positions(load, a, &a->k, p0, n, g * dk, dk, w->k_rows, dkp, dkp); /* [n][dkp] */
        for (int32_t i = 0; i < n; i++)
            for (int32_t d = dk; d < dkp; d++) w->k_rows[(int64_t)i * dkp + d] = 0.0f;
        transpose_rows(load_t, w->k_rows, n, dk, dkp, w->kt);
    }
    for (int32_t d = 0; d < dk; d++)
        for (int32_t i = n; i < cols; i++) w->kt[(int64_t)d * EF_ATTN_EXT_TILE + i] = 0.0f;
    if (!same_heads(a)) {
        load_positions(load, a, &a->v, p0, n, g * a->dv, a->dv, w->v_rows, dvp, dvp); /* [n][dvp] */
        for (int32_t i = 0; i < n; i++)
            for (int32_t d = a->dv; d < dvp; d++) w->v_rows[(int64_t)i * dvp + d] = 0.0f;
        t.v = w->v_rows;
        t.v_stride = dvp;
    }
    return t;
}

enum {
    CACHE_LINE = 64,
    PREFETCH_MIN_CHUNKS = 8 /* decode prefetches over spans longer than this many chunks (2048 positions) */
};

/* Prefetches bytes [off, off+len) of cache rows row .. row+count−1 (one
 * run of consecutive rows): a page lookup per page, not per row. */
static void prefetch_rows(const ef_kv_rows *r, int64_t row, int32_t count, size_t off, size_t len) {
    while (count > 0) {
        const int64_t room = r->page_rows - row % r->page_rows; /* rows left in this page */
        const int32_t take = room < count ? (int32_t)room : count;
        const char *p = (const char *)ef_kv_row(r, row) + off; /* [len] bytes, then the next row's */
        for (int32_t i = 0; i < take; i++, p += r->row_bytes) {
            for (size_t b = 0; b < len; b += CACHE_LINE) __builtin_prefetch(p + b);
            __builtin_prefetch(p + len - 1); /* a slice straddling a line edge */
        }
        row += take;
        count -= take;
    }
}

/* Asks the memory system early for the K and V head slices of KV head g
 * at positions p0 .. p0+n−1. Decode does little arithmetic per loaded row,
 * so without this the next tile's cache misses stall the loaders (in perf,
 * at 64K positions, the time went to the row loads). */
static void prefetch_tile(const ef_attn_ext *a, int32_t g, int64_t p0, int32_t n) {
    const size_t k_off = ef_kv_row_bytes(a->k.type, g * a->dk), k_len = ef_kv_row_bytes(a->k.type, a->dk);
    const size_t v_off = ef_kv_row_bytes(a->v.type, g * a->dv), v_len = ef_kv_row_bytes(a->v.type, a->dv);
    const int shared = same_heads(a);
    for (int32_t i = 0; i < n;) { /* runs of consecutive rows, as load_positions walks them */
        const int64_t row = ef_attn_ring_row(p0 + i, a->ring_rows, a->n_sinks);
        int32_t run = 1;
        while (i + run < n && ef_attn_ring_row(p0 + i + run, a->ring_rows, a->n_sinks) == row + run) run++;
        prefetch_rows(&a->k, row, run, k_off, k_len);
        if (!shared) prefetch_rows(&a->v, row, run, v_off, v_len);
        i += run;
    }
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

/* ---- chunks: the unit prefill and decode share ---- */

typedef struct {
    const ef_attn_ext *a;
    const ef_attn_ext_kernels *kern;
    ef_kv_load_fn load;
    ef_kv_load_t_fn load_t; /* NULL: keys as rows, then transposed */
    const float *q;
    float *scratch;
    float *out;
    int32_t q_tokens, n_blocks;
    int32_t nth;          /* decode: workers of the fold pass, for the slot layout */
    tile_span sp;         /* decode: the span of the call's tokens */
    int32_t k0, k1;       /* decode: this wave's chunks, [k0, k1) of the span's chunk_count */
} ext_job;

static void reset_rows(const ef_attn_ext_rows *rows) {
    for (int32_t r = 0; r < rows->n_rows; r++) {
        rows->m[r] = -INFINITY;
        rows->l[r] = 0.0f;
        memset(rows->acc + (int64_t)r * rows->dv_pad, 0, sizeof(float) * (size_t)rows->dv_pad);
    }
}

/* The tokens [*t_lo, *t_hi) of a task (token 0 at pos0, nt tokens) that
 * see anything of the n positions from p0: the causal edge cuts the
 * earlier ones, the window's edge the later ones (unless p0 holds sinks). */
static void seeing_tokens(const ef_attn_ext *a, int64_t pos0, int32_t nt, int64_t p0, int32_t n, int32_t *t_lo,
                          int32_t *t_hi) {
    *t_lo = (int32_t)(p0 - pos0 > 0 ? (p0 - pos0 < nt ? p0 - pos0 : nt) : 0);
    *t_hi = nt;
    if (a->window > 0 && p0 >= a->n_sinks) {
        const int64_t end = p0 + n + a->window - 1 - pos0; /* tokens from here on have left the tile behind */
        *t_hi = (int32_t)(end < nt ? (end > *t_lo ? end : *t_lo) : nt);
    }
}

/* Tokens [t_lo, t_hi) of a task's rows: the same rows, the kernels see
 * fewer of them. */
static ef_attn_ext_rows rows_of_tokens(const ef_attn_ext_rows *rows, int32_t t_lo, int32_t t_hi) {
    ef_attn_ext_rows sub = *rows;
    const int64_t r0 = (int64_t)t_lo * rows->group;
    sub.n_rows = (t_hi - t_lo) * rows->group;
    sub.q += t_lo * rows->q_tstride;
    sub.acc += r0 * rows->dv_pad;
    sub.m += r0;
    sub.l += r0;
    return sub;
}

/* Chunk c of KV head g, from a fresh state: its tiles in the span, in
 * order. A row's state depends only on the tiles it sees, so the chunk's
 * result for a row is the same whichever rows share the task. */
static void fold_chunk(const ext_job *j, const worker_scratch *w, const ef_attn_ext_rows *rows, int32_t g,
                       int64_t pos0, const tile_span *sp, int32_t c) {
    const ef_attn_ext *a = j->a;
    const int32_t nt = rows->n_rows / rows->group;
    const int64_t last = pos0 + nt - 1; /* the task's last query position */
    reset_rows(rows);
    for (int32_t t = c * TILES_PER_CHUNK; t < (c + 1) * TILES_PER_CHUNK; t++) {
        if (!tile_in_span(sp, t)) continue;
        const int64_t p0 = (int64_t)t * EF_ATTN_EXT_TILE;
        const int32_t n = (int32_t)(last + 1 - p0 < EF_ATTN_EXT_TILE ? last + 1 - p0 : EF_ATTN_EXT_TILE);
        int32_t t_lo, t_hi;
        seeing_tokens(a, pos0, nt, p0, n, &t_lo, &t_hi);
        if (t_lo >= t_hi) continue;
        const ef_attn_ext_tile tile = load_tile(a, j->load, j->load_t, w, g, p0, n);
        /* decode over a long span: the chunk's next tile, while this one is
         * folded. Only for strided head slices (several KV heads per row);
         * whole rows stream in through the hardware prefetcher, and a short
         * span (a window) stays in cache from the last call: both measured
         * slower with the prefetches. */
        if (nt <= EF_ATTN_EXT_DECODE_MAX_TOK && a->n_head_kv > 1 && chunk_count(sp) > PREFETCH_MIN_CHUNKS &&
            t + 1 < (c + 1) * TILES_PER_CHUNK && tile_in_span(sp, t + 1)) {
            const int64_t p1 = p0 + EF_ATTN_EXT_TILE;
            if (p1 <= last)
                prefetch_tile(a, g, p1, (int32_t)(last + 1 - p1 < EF_ATTN_EXT_TILE ? last + 1 - p1 : EF_ATTN_EXT_TILE));
        }
        /* a few rows at a time, so their scores stay in L1 beside the tile */
        for (int32_t tb = t_lo; tb < t_hi; tb += sub_tokens(a)) {
            const ef_attn_ext_rows sub = rows_of_tokens(rows, tb, min32(tb + sub_tokens(a), t_hi));
            j->kern->scores(&sub, &tile, w->s);
            int32_t i0, i1;
            mask_rows(a, &sub, pos0 + tb, p0, n, w->s, w->live, &i0, &i1);
            if (i0 < i1) j->kern->fold(&sub, &tile, w->live, i0, i1, w->s);
        }
    }
}

/* Merges one chunk's state of a row (acc[n], m, l; base 2) into the running
 * one (run[n], *M, *L). Prefill and decode both merge through here, chunk by
 * chunk in order, which is what makes their bits the same. */
static void merge_chunk(float *run, float *M, float *L, const float *acc, float m, float l, int32_t n) {
    if (l == 0.0f) return; /* the row saw nothing of the chunk */
    if (m <= *M) { /* the running max stays: its factor is 2^0 = 1 */
        const float cb = exp2f(m - *M);
        for (int32_t d = 0; d < n; d++) run[d] += acc[d] * cb;
        *L += l * cb;
    } else { /* the chunk's max takes over; ca = 0 on the first merge */
        const float ca = exp2f(*M - m);
        for (int32_t d = 0; d < n; d++) run[d] = run[d] * ca + acc[d];
        *L = *L * ca + l;
        *M = m;
    }
}

/* out[n] = run[n] / L. */
static void finish_row(float *run, float L, int32_t n) {
    const float inv = 1.0f / L;
    for (int32_t d = 0; d < n; d++) run[d] *= inv;
}

/* ---- prefill: one task per (query block, KV head) ---- */

/* Row r of a prefill task whose first query row is h0 (token t0, head
 * g*group): out's row of token t0 + r/group, head g*group + r%group. */
static float *out_row(const ext_job *j, int64_t h0, int32_t r) {
    const int32_t group = group_of(j->a);
    return j->out + (h0 + (int64_t)(r / group) * j->a->n_head + r % group) * j->a->dv; /* [dv] */
}

static void prefill_task(const ext_job *j, const worker_scratch *w, int32_t block, int32_t g) {
    const ef_attn_ext *a = j->a;
    const int32_t group = group_of(a), t0 = block * j->q_tokens;
    const int32_t nt = min32(j->q_tokens, a->n_tok - t0), dvp = round8(a->dv);
    const int64_t q_tstride = (int64_t)a->n_head * a->dk, pos0 = (int64_t)a->n_past + t0;
    const int64_t h0 = (int64_t)t0 * a->n_head + (int64_t)g * group; /* first query row (token t0, head g*group) */
    const ef_attn_ext_rows rows = {nt * group, group, a->dk, dvp, base2_scale(a), j->q + h0 * a->dk, q_tstride,
                                   w->acc, w->m, w->l};
    /* the running state: acc straight in out, M and L in scratch */
    for (int32_t r = 0; r < rows.n_rows; r++) {
        memset(out_row(j, h0, r), 0, sizeof(float) * (size_t)a->dv);
        w->M[r] = -INFINITY;
        w->L[r] = 0.0f;
    }
    const tile_span sp = span_of(a, pos0, pos0 + nt - 1);
    for (int32_t k = 0; k < chunk_count(&sp); k++) {
        fold_chunk(j, w, &rows, g, pos0, &sp, span_chunk(&sp, k));
        for (int32_t r = 0; r < rows.n_rows; r++)
            merge_chunk(out_row(j, h0, r), &w->M[r], &w->L[r], w->acc + (int64_t)r * dvp, w->m[r], w->l[r], a->dv);
    }
    for (int32_t r = 0; r < rows.n_rows; r++) finish_row(out_row(j, h0, r), w->L[r], a->dv);
}

static void prefill_worker(void *ctx, int32_t ith, int32_t nth) {
    const ext_job *j = ctx;
    const worker_scratch w = scratch_of(j->a, j->scratch, ith);
    const int32_t n_tasks = j->n_blocks * j->a->n_head_kv;
    /* block-major: the KV heads of one block read the same cache rows
     * (measured faster than head-major, whose neighbouring blocks share keys) */
    for (int32_t i = ith; i < n_tasks; i += nth) prefill_task(j, &w, i / j->a->n_head_kv, i % j->a->n_head_kv);
}

/* ---- decode: waves of (KV head, chunk) tasks, merged in chunk order ---- */

/* The partial of KV head task / n, chunk k0 + task % n of the wave's n
 * chunks: its rows live in worker task % nth's scratch, slot task / nth
 * (whichever worker folds it). */
static ef_attn_ext_rows decode_slot(const ext_job *j, int32_t task) {
    const ef_attn_ext *a = j->a;
    const int32_t group = group_of(a), dvp = round8(a->dv), n_rows = a->n_tok * group;
    const worker_scratch w = scratch_of(a, j->scratch, task % j->nth);
    float *p = w.partial + (int64_t)(task / j->nth) * slot_floats(a); /* [n_rows][dvp] acc, [n_rows] m, l */
    const ef_attn_ext_rows rows = {n_rows, group, a->dk, dvp, base2_scale(a), NULL, (int64_t)a->n_head * a->dk,
                                   p, p + (int64_t)n_rows * dvp, p + (int64_t)n_rows * (dvp + 1)};
    return rows;
}

static void decode_worker(void *ctx, int32_t ith, int32_t nth) {
    const ext_job *j = ctx;
    const ef_attn_ext *a = j->a;
    const worker_scratch w = scratch_of(a, j->scratch, ith);
    const int32_t n = j->k1 - j->k0, group = group_of(a);
    /* chunk-major, a contiguous run of tasks per worker: the KV heads of
     * one chunk share its cache rows, so each row is streamed from memory
     * once, by one worker, not once per head */
    int64_t i0, i1;
    ef_split_range((int64_t)a->n_head_kv * n, ith, nth, &i0, &i1);
    for (int32_t i = (int32_t)i0; i < (int32_t)i1; i++) {
        const int32_t k = i / a->n_head_kv, g = i % a->n_head_kv;
        ef_attn_ext_rows rows = decode_slot(j, g * n + k);
        rows.q = j->q + (int64_t)g * group * a->dk;
        fold_chunk(j, &w, &rows, g, a->n_past, &j->sp, span_chunk(&j->sp, j->k0 + k));
    }
}

/* One worker per output row (token, head): the wave's chunks merged into
 * the running state in order; after the last wave, divided. */
static void decode_reduce(void *ctx, int32_t ith, int32_t nth) {
    const ext_job *j = ctx;
    const ef_attn_ext *a = j->a;
    const int32_t n = j->k1 - j->k0, group = group_of(a), dvp = round8(a->dv);
    const int64_t n_out = (int64_t)a->n_tok * a->n_head;
    float *run_m = scratch_of(a, j->scratch, 0).run_ml, *run_l = run_m + n_out; /* [n_out] each */
    int64_t r0, r1;
    ef_split_range(n_out, ith, nth, &r0, &r1);
    for (int64_t o = r0; o < r1; o++) { /* o = t*n_head + h, out's row layout */
        const int32_t t = (int32_t)(o / a->n_head), h = (int32_t)(o % a->n_head);
        const int32_t g = h / group, r = t * group + h % group; /* row r of KV head g's tasks */
        float *out = j->out + o * a->dv; /* [dv] running acc, then the result */
        if (j->k0 == 0) {
            memset(out, 0, sizeof(float) * (size_t)a->dv);
            run_m[o] = -INFINITY;
            run_l[o] = 0.0f;
        }
        for (int32_t k = 0; k < n; k++) {
            const ef_attn_ext_rows part = decode_slot(j, g * n + k);
            merge_chunk(out, &run_m[o], &run_l[o], part.acc + (int64_t)r * dvp, part.m[r], part.l[r], a->dv);
        }
        if (j->k1 == chunk_count(&j->sp)) finish_row(out, run_l[o], a->dv);
    }
}

void ef_cpu_attn_ext_tiled(ef_pool *pool, const ef_attn_ext *a, const ef_attn_ext_kernels *kern, const float *q,
                           float *scratch, float *out) {
    const int32_t qt = q_tokens(a), nth = ef_pool_size(pool);
    ext_job job = {a, kern, ef_kv_pick_load(), ef_kv_pick_load_t(), q, scratch, out, qt, (a->n_tok + qt - 1) / qt, nth,
                   span_of(a, a->n_past, (int64_t)a->n_past + a->n_tok - 1), 0, 0};
    if (a->n_tok > EF_ATTN_EXT_DECODE_MAX_TOK) {
        ef_pool_run(pool, prefill_worker, &job);
        return;
    }
    /* a wave: SPLITS chunks per worker of every KV head, as the partial slots hold */
    const int32_t n_chunks = chunk_count(&job.sp), per_wave = EF_ATTN_EXT_SPLITS * nth;
    for (job.k0 = 0; job.k0 < n_chunks; job.k0 = job.k1) {
        job.k1 = min32(n_chunks, job.k0 + per_wave);
        ef_pool_run(pool, decode_worker, &job);
        ef_pool_run(pool, decode_reduce, &job);
    }
}

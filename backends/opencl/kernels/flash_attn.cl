/* Causal GQA attention with the online softmax, never holding a full score
 * row. Query token t (position n_past + t), head h reads KV head
 * h / (n_head / n_head_kv) over cache rows 0 .. n_past + t.
 * q, out: [n_tok][n_head][head_dim] F32; k, v: [n_ctx][n_head_kv][head_dim]
 * F32 or F16 (kv_f16). Range (n_head * EF_WG, n_tok): one group per
 * (head, token). Per tile of EF_WG cache rows each item scores one row
 * and, once the tile's max is known, takes the exp of its own score; then
 * every item folds the tile into the head_dim outputs it owns
 * (d = lid + k * EF_WG, which stop at the first d ≥ head_dim). */
#define ACC_PER_ITEM (EF_MAX_HEAD_DIM / EF_WG)

inline float kv_at(global const uchar *base, size_t idx, int kv_f16) {
    return kv_f16 ? vload_half(idx, (global const half *)base) : ((global const float *)base)[idx];
}

kernel void flash_attn(global const uchar *qb, ulong q_off, global const uchar *kb, ulong k_off,
                       global const uchar *vb, ulong v_off, int kv_f16, global uchar *ob, ulong o_off, int n_past,
                       int n_head, int n_head_kv, int head_dim, float scale) {
    local float qs[EF_MAX_HEAD_DIM]; /* [head_dim] this query */
    local float sc[EF_WG];           /* [EF_WG] scores of the tile */
    local float pe[EF_WG];           /* [EF_WG] exp(score - tile max) */
    const int h = get_group_id(0), t = get_global_id(1), lid = get_local_id(0);
    const int kvh = h / (n_head / n_head_kv);
    const size_t kv_row = (size_t)n_head_kv * head_dim;
    global const uchar *k = kb + k_off; /* [n_ctx][n_head_kv][head_dim] */
    global const uchar *v = vb + v_off; /* [n_ctx][n_head_kv][head_dim] */
    global const float *q = (global const float *)(qb + q_off) + ((size_t)t * n_head + h) * head_dim; /* [head_dim] */
    for (int d = lid; d < head_dim; d += EF_WG) qs[d] = q[d];
    barrier(CLK_LOCAL_MEM_FENCE);

    float acc[ACC_PER_ITEM]; /* [ACC_PER_ITEM] outputs d = lid + j*EF_WG */
    for (int j = 0; j < ACC_PER_ITEM; j++) acc[j] = 0.0f;
    float m = -INFINITY, l = 0.0f; /* running max and sum of exp */
    const int n_kv = n_past + t + 1;
    for (int p0 = 0; p0 < n_kv; p0 += EF_WG) {
        const int p = p0 + lid;
        float s = -INFINITY;
        if (p < n_kv) {
            const size_t base = (size_t)p * kv_row + (size_t)kvh * head_dim;
            float dot = 0.0f;
            for (int d = 0; d < head_dim; d++) dot += qs[d] * kv_at(k, base + d, kv_f16);
            s = dot * scale;
        }
        sc[lid] = s;
        barrier(CLK_LOCAL_MEM_FENCE);
        const int cnt = min(EF_WG, n_kv - p0);
        float tmax = m;
        for (int j = 0; j < cnt; j++) tmax = fmax(tmax, sc[j]);
        pe[lid] = lid < cnt ? exp(s - tmax) : 0.0f; /* one exp per row, not one per row and item */
        barrier(CLK_LOCAL_MEM_FENCE);
        const float corr = exp(m - tmax); /* 0 on the first tile (m = -inf) */
        l *= corr;
        for (int a = 0; a < ACC_PER_ITEM && lid + a * EF_WG < head_dim; a++) acc[a] *= corr;
        for (int j = 0; j < cnt; j++) {
            const float pj = pe[j];
            l += pj;
            const size_t base = (size_t)(p0 + j) * kv_row + (size_t)kvh * head_dim;
            for (int a = 0; a < ACC_PER_ITEM; a++) {
                const int d = lid + a * EF_WG;
                if (d >= head_dim) break;
                acc[a] += pj * kv_at(v, base + d, kv_f16);
            }
        }
        m = tmax;
        barrier(CLK_LOCAL_MEM_FENCE); /* sc and pe are rewritten by the next tile */
    }
    global float *o = (global float *)(ob + o_off) + ((size_t)t * n_head + h) * head_dim; /* [head_dim] */
    for (int a = 0; a < ACC_PER_ITEM; a++) {
        const int d = lid + a * EF_WG;
        if (d < head_dim) o[d] = acc[a] / l;
    }
}

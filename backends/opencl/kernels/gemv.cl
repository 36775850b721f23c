/* Matrix-vector products for decode (and small batches):
 * y[t][r] = dot(W row r, x row t) for W {in, out}, x [n][in], y [n][out].
 * Range (out * EF_WG, n), groups of EF_WG: one group per (row, token), its
 * items striding over the row in 16-element chunks (F32/F16/BF16) or blocks
 * (16-wide loads inside a block), then a group sum. Each weight type has a
 * function for one item's share of the row (`*_part`); the kernels only
 * locate the row and token and store the group's sum (gemv_finish). */

#define Q8_0_BYTES 34  /* f16 d + 32 int8 */
#define Q4_0_BYTES 18  /* f16 d + 16 bytes of nibbles */
#define Q4_K_BYTES 144 /* f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles */

/* Token t's activations: [in] F32. */
inline global const float *gemv_x(global const uchar *xb, ulong x_off, int t, int in) {
    return (global const float *)(xb + x_off) + (size_t)t * in;
}

/* Sums the items' parts over the group; item 0 stores y[t][r]. */
inline void gemv_finish(local float *part, float s, global uchar *yb, ulong y_off, int out) {
    const int r = get_group_id(0), t = get_global_id(1);
    s = group_sum(part, s);
    if (get_local_id(0) == 0) ((global float *)(yb + y_off))[(size_t)t * out + r] = s;
}

/* Items take 16 contiguous elements at a time (wide loads), then the tail. */
inline float f32_part(global const float *w, global const float *x, int in, int lid) {
    const int in16 = in & ~15;
    float16 acc = (float16)(0.0f);
    for (int i = lid * 16; i < in16; i += EF_WG * 16) acc += vload16(0, w + i) * vload16(0, x + i);
    float s = sum16(acc);
    for (int i = in16 + lid; i < in; i += EF_WG) s += w[i] * x[i];
    return s;
}

inline float f16_part(global const half *w, global const float *x, int in, int lid) {
    const int in16 = in & ~15;
    float16 acc = (float16)(0.0f);
    for (int i = lid * 16; i < in16; i += EF_WG * 16) acc += vload_half16(0, w + i) * vload16(0, x + i);
    float s = sum16(acc);
    for (int i = in16 + lid; i < in; i += EF_WG) s += vload_half(i, w) * x[i];
    return s;
}

/* BF16: the high half of an F32. */
inline float bf16_part(global const ushort *w, global const float *x, int in, int lid) {
    const int in16 = in & ~15;
    float16 acc = (float16)(0.0f);
    for (int i = lid * 16; i < in16; i += EF_WG * 16)
        acc += as_float16(convert_uint16(vload16(0, w + i)) << 16) * vload16(0, x + i);
    float s = sum16(acc);
    for (int i = in16 + lid; i < in; i += EF_WG) s += as_float((uint)w[i] << 16) * x[i];
    return s;
}

/* Items take whole blocks (two 16-wide loads), summed across lanes once at the end. */
inline float q8_0_part(global const uchar *w, global const float *x, int in, int lid) {
    float16 acc = (float16)(0.0f);
    for (int b = lid; b < in / 32; b += EF_WG) {
        global const uchar *blk = w + (size_t)b * Q8_0_BYTES;
        global const char *qs = (global const char *)(blk + 2); /* [32] */
        global const float *xs = x + b * 32;                     /* [32] */
        acc += load_half_le(blk) * (convert_float16(vload16(0, qs)) * vload16(0, xs) +
                                    convert_float16(vload16(1, qs)) * vload16(1, xs));
    }
    return sum16(acc);
}

inline float q4_0_part(global const uchar *w, global const float *x, int in, int lid) {
    float16 acc = (float16)(0.0f);
    for (int b = lid; b < in / 32; b += EF_WG) {
        global const uchar *blk = w + (size_t)b * Q4_0_BYTES;
        const uchar16 q = vload16(0, blk + 2); /* [16]: element i low nibble, i + 16 high */
        global const float *xs = x + b * 32;   /* [32] */
        acc += load_half_le(blk) * ((convert_float16(q & (uchar16)15) - 8.0f) * vload16(0, xs) +
                                    (convert_float16(q >> (uchar16)4) - 8.0f) * vload16(1, xs));
    }
    return sum16(acc);
}

/* Q4_K: items take sub-blocks of 32 (8 per block), so short rows still
 * spread over the group. weight = d*sc*q - dmin*m, hence
 * dot = d*sc*Σq·x - dmin*m*Σx per sub-block, kept in 16 lanes until the end. */
inline float q4_k_part(global const uchar *w, global const float *x, int in, int lid) {
    float16 acc = (float16)(0.0f);
    for (int u = lid; u < in / 256 * 8; u += EF_WG) {
        const int b = u / 8, j = u % 8;
        global const uchar *blk = w + (size_t)b * Q4_K_BYTES;
        float sc, m;
        q4_k_scale_min(blk + 4, j, &sc, &m);
        global const uchar *qs = blk + 16 + 32 * (j / 2); /* [32], sub-block j in nibble j&1 */
        const uchar16 shift = (uchar16)(uchar)(4 * (j & 1));
        global const float *xs = x + b * 256 + j * 32;    /* [32] */
        const float16 x0 = vload16(0, xs), x1 = vload16(1, xs);
        const float16 p = convert_float16((vload16(0, qs) >> shift) & (uchar16)15) * x0 +
                          convert_float16((vload16(1, qs) >> shift) & (uchar16)15) * x1;
        acc += (load_half_le(blk) * sc) * p - (load_half_le(blk + 2) * m) * (x0 + x1);
    }
    return sum16(acc);
}

kernel void gemv_f32(global const uchar *wb, ulong w_off, global const uchar *xb, ulong x_off, global uchar *yb,
                     ulong y_off, int in, int out) {
    local float part[EF_WG];
    global const float *w = (global const float *)(wb + w_off) + (size_t)get_group_id(0) * in; /* [in] */
    gemv_finish(part, f32_part(w, gemv_x(xb, x_off, get_global_id(1), in), in, get_local_id(0)), yb, y_off, out);
}

kernel void gemv_f16(global const uchar *wb, ulong w_off, global const uchar *xb, ulong x_off, global uchar *yb,
                     ulong y_off, int in, int out) {
    local float part[EF_WG];
    global const half *w = (global const half *)(wb + w_off) + (size_t)get_group_id(0) * in; /* [in] f16 */
    gemv_finish(part, f16_part(w, gemv_x(xb, x_off, get_global_id(1), in), in, get_local_id(0)), yb, y_off, out);
}

kernel void gemv_bf16(global const uchar *wb, ulong w_off, global const uchar *xb, ulong x_off, global uchar *yb,
                      ulong y_off, int in, int out) {
    local float part[EF_WG];
    global const ushort *w = (global const ushort *)(wb + w_off) + (size_t)get_group_id(0) * in; /* [in] bf16 */
    gemv_finish(part, bf16_part(w, gemv_x(xb, x_off, get_global_id(1), in), in, get_local_id(0)), yb, y_off, out);
}

kernel void gemv_q8_0(global const uchar *wb, ulong w_off, global const uchar *xb, ulong x_off, global uchar *yb,
                      ulong y_off, int in, int out) {
    local float part[EF_WG];
    global const uchar *w = wb + w_off + (size_t)get_group_id(0) * (in / 32) * Q8_0_BYTES; /* [in/32] blocks */
    gemv_finish(part, q8_0_part(w, gemv_x(xb, x_off, get_global_id(1), in), in, get_local_id(0)), yb, y_off, out);
}

kernel void gemv_q4_0(global const uchar *wb, ulong w_off, global const uchar *xb, ulong x_off, global uchar *yb,
                      ulong y_off, int in, int out) {
    local float part[EF_WG];
    global const uchar *w = wb + w_off + (size_t)get_group_id(0) * (in / 32) * Q4_0_BYTES; /* [in/32] blocks */
    gemv_finish(part, q4_0_part(w, gemv_x(xb, x_off, get_global_id(1), in), in, get_local_id(0)), yb, y_off, out);
}

kernel void gemv_q4_k(global const uchar *wb, ulong w_off, global const uchar *xb, ulong x_off, global uchar *yb,
                      ulong y_off, int in, int out) {
    local float part[EF_WG];
    global const uchar *w = wb + w_off + (size_t)get_group_id(0) * (in / 256) * Q4_K_BYTES; /* [in/256] blocks */
    gemv_finish(part, q4_k_part(w, gemv_x(xb, x_off, get_global_id(1), in), in, get_local_id(0)), yb, y_off, out);
}

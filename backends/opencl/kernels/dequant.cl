/* Rows of a weight or embedding table to F32 rows: get_rows, convert to
 * F32, and the F32 copy of a quantized weight that prefill's SGEMM reads.
 * dst row i = src row (use_ids ? ids[i] : i), dim elements each.
 * Range (dim, n_rows): one item per output element. */

#define DEQUANT_INDEX                                                      \
    const int c = get_global_id(0), i = get_global_id(1);                  \
    const size_t row = use_ids ? (size_t)ids[i] : (size_t)i;               \
    global const uchar *src = sb + s_off + row * row_bytes; /* one row */  \
    global float *dst = (global float *)(db + d_off) + (size_t)i * dim; /* [dim] */

kernel void dequant_f32(global const uchar *sb, ulong s_off, ulong row_bytes, global const int *ids, int use_ids,
                        int dim, global uchar *db, ulong d_off) {
    DEQUANT_INDEX
    dst[c] = ((global const float *)src)[c];
}

kernel void dequant_f16(global const uchar *sb, ulong s_off, ulong row_bytes, global const int *ids, int use_ids,
                        int dim, global uchar *db, ulong d_off) {
    DEQUANT_INDEX
    dst[c] = vload_half(c, (global const half *)src);
}

kernel void dequant_bf16(global const uchar *sb, ulong s_off, ulong row_bytes, global const int *ids, int use_ids,
                         int dim, global uchar *db, ulong d_off) {
    DEQUANT_INDEX
    dst[c] = as_float((uint)((global const ushort *)src)[c] << 16);
}

kernel void dequant_q8_0(global const uchar *sb, ulong s_off, ulong row_bytes, global const int *ids, int use_ids,
                         int dim, global uchar *db, ulong d_off) {
    DEQUANT_INDEX
    global const uchar *blk = src + (size_t)(c / 32) * 34;
    dst[c] = load_half_le(blk) * (float)((global const char *)(blk + 2))[c % 32];
}

kernel void dequant_q4_0(global const uchar *sb, ulong s_off, ulong row_bytes, global const int *ids, int use_ids,
                         int dim, global uchar *db, ulong d_off) {
    DEQUANT_INDEX
    global const uchar *blk = src + (size_t)(c / 32) * 18;
    const int e = c % 32;
    const int q = e < 16 ? (blk[2 + e] & 15) : (blk[2 + e - 16] >> 4);
    dst[c] = load_half_le(blk) * (float)(q - 8);
}

kernel void dequant_q4_k(global const uchar *sb, ulong s_off, ulong row_bytes, global const int *ids, int use_ids,
                         int dim, global uchar *db, ulong d_off) {
    DEQUANT_INDEX
    global const uchar *blk = src + (size_t)(c / 256) * 144;
    const int e = c % 256, j = e / 32, l = e % 32;
    float sc, m;
    q4_k_scale_min(blk + 4, j, &sc, &m);
    const int q = (blk[16 + 32 * (j / 2) + l] >> (4 * (j & 1))) & 15;
    dst[c] = load_half_le(blk) * sc * (float)q - load_half_le(blk + 2) * m;
}

/* F32 -> F16 with round-to-nearest-even, as the core converts. Range (n). */
kernel void f32_to_f16(global const uchar *sb, ulong s_off, global uchar *db, ulong d_off) {
    const size_t i = get_global_id(0);
    /* src: [n] F32, dst: [n] F16 */
    vstore_half_rte(((global const float *)(sb + s_off))[i], i, (global half *)(db + d_off));
}

/* Helpers every kernel file uses. Built with -DEF_WG (work-group size of
 * the reducing kernels) and -DEF_MAX_HEAD_DIM. Tensors arrive as a byte
 * pointer plus a byte offset, so one host path serves every type; block
 * scales are read byte by byte (blocks are 18/34/144 bytes, so no wider
 * alignment holds) and decoded without cl_khr_fp16. */

/* IEEE half bits -> float (normals, subnormals, inf, NaN). */
inline float half_bits_to_float(uint h) {
    const uint sign = (h & 0x8000u) << 16;
    const uint e = (h >> 10) & 0x1fu;
    const uint m = h & 0x3ffu;
    if (e == 0) {
        const float f = (float)m * 5.9604644775390625e-8f; /* m * 2^-24 */
        return sign ? -f : f;
    }
    if (e == 31) return as_float(sign | 0x7f800000u | (m << 13));
    return as_float(sign | ((e + 112u) << 23) | (m << 13));
}

/* The little-endian f16 at p (a block scale). */
inline float load_half_le(global const uchar *p) {
    return half_bits_to_float((uint)p[0] | ((uint)p[1] << 8));
}

/* Sum of the 16 lanes of v. */
inline float sum16(float16 v) {
    const float8 a = v.lo + v.hi;
    const float4 b = a.lo + a.hi;
    return (b.x + b.y) + (b.z + b.w);
}

/* Sum of v over the work-group; every item gets it. buf: [EF_WG] local. */
inline float group_sum(local float *buf, float v) {
    const int lid = get_local_id(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = EF_WG / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* buf is reused by the next call */
    return r;
}

/* Max of v over the work-group. buf: [EF_WG] local. */
inline float group_max(local float *buf, float v) {
    const int lid = get_local_id(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = EF_WG / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = fmax(buf[lid], buf[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Q4_K sub-block j's 6-bit scale and min from the 12 packed bytes. */
inline void q4_k_scale_min(global const uchar *scales, int j, float *sc, float *m) {
    if (j < 4) {
        *sc = (float)(scales[j] & 63);
        *m = (float)(scales[j + 4] & 63);
    } else {
        *sc = (float)((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
        *m = (float)((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

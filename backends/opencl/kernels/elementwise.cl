/* Element-wise ops over [n] F32 values. Range (n). */

/* out = silu(gate) * up (out may alias gate). */
kernel void swiglu(global const uchar *gb, ulong g_off, global const uchar *ub, ulong u_off, global uchar *ob,
                   ulong o_off) {
    const size_t i = get_global_id(0);
    const float g = ((global const float *)(gb + g_off))[i]; /* gate [n] */
    const float u = ((global const float *)(ub + u_off))[i]; /* up [n] */
    ((global float *)(ob + o_off))[i] = g / (1.0f + exp(-g)) * u; /* out [n] */
}

/* y += x. */
kernel void add_f32(global uchar *yb, ulong y_off, global const uchar *xb, ulong x_off) {
    const size_t i = get_global_id(0);
    ((global float *)(yb + y_off))[i] += ((global const float *)(xb + x_off))[i]; /* y, x: [n] */
}

/* y *= s. */
kernel void scale_f32(global uchar *yb, ulong y_off, float s) {
    const size_t i = get_global_id(0);
    ((global float *)(yb + y_off))[i] *= s; /* y: [n] */
}

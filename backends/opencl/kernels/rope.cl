/* Rotary position embedding, in place, as backends/cpu/cpu_rope.c: pair i
 * of a head turns by pos * freq_scale * base^(-2i/n_rot) / factor_i, with
 * pairs (2i, 2i+1) in NORM mode (0) and (i, i + n_rot/2) in NEOX mode (1).
 * Angles in double where the device has it, like the reference.
 * x: [n_tok][n_heads][head_dim]; factors: [n_rot/2] or unused.
 * Range (n_rot/2, n_tok): the angle depends on (pair, token) only, so each
 * item turns that pair in every head (one pow/cos/sin, not one per head). */
#ifdef EF_HAS_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double rope_real;
#else
typedef float rope_real;
#endif

kernel void rope(global uchar *xb, ulong x_off, int head_dim, int n_heads, int pos0, int n_rot, int mode,
                 float freq_base, float freq_scale, global const float *factors, int has_factors) {
    const int i = get_global_id(0), t = get_global_id(1);
    const rope_real pos = (rope_real)(pos0 + t) * (rope_real)freq_scale;
    rope_real theta = pos * pow((rope_real)freq_base, (rope_real)(-2 * i) / (rope_real)n_rot);
    if (has_factors) theta /= (rope_real)factors[i];
    const rope_real c = cos(theta), s = sin(theta);
    const int a = mode == 0 ? 2 * i : i;
    const int b = mode == 0 ? 2 * i + 1 : i + n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        global float *v = (global float *)(xb + x_off) + ((size_t)t * n_heads + h) * head_dim; /* [head_dim] */
        const rope_real x0 = v[a], x1 = v[b];
        v[a] = (float)(x0 * c - x1 * s);
        v[b] = (float)(x0 * s + x1 * c);
    }
}

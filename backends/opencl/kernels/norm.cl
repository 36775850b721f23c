/* RMSNorm: y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w. x, y: [rows][dim]
 * (may alias: each item rewrites only the elements it read); w: [dim].
 * Range (rows * EF_WG), one group per row. */
kernel void rmsnorm(global const uchar *xb, ulong x_off, global const uchar *wb, ulong w_off, global uchar *yb,
                    ulong y_off, int dim, float eps) {
    local float part[EF_WG];
    const int row = get_group_id(0), lid = get_local_id(0);
    global const float *x = (global const float *)(xb + x_off) + (size_t)row * dim; /* [dim] */
    global const float *w = (global const float *)(wb + w_off);                      /* [dim] */
    global float *y = (global float *)(yb + y_off) + (size_t)row * dim;              /* [dim] */
    float sq = 0.0f;
    for (int i = lid; i < dim; i += EF_WG) sq += x[i] * x[i];
    sq = group_sum(part, sq);
    const float scale = 1.0f / sqrt(sq / (float)dim + eps);
    for (int i = lid; i < dim; i += EF_WG) y[i] = x[i] * scale * w[i];
}

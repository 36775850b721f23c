/* Softmax over each row, in place. x: [rows][dim]. Range (rows * EF_WG),
 * one group per row: max, then the sum of exp(x - max), then the scale. */
kernel void softmax_rows(global uchar *xb, ulong x_off, int dim) {
    local float part[EF_WG];
    const int row = get_group_id(0), lid = get_local_id(0);
    global float *x = (global float *)(xb + x_off) + (size_t)row * dim; /* [dim] */
    float mx = -INFINITY;
    for (int i = lid; i < dim; i += EF_WG) mx = fmax(mx, x[i]);
    mx = group_max(part, mx);
    float sum = 0.0f;
    for (int i = lid; i < dim; i += EF_WG) sum += exp(x[i] - mx);
    sum = group_sum(part, sum);
    const float inv = 1.0f / sum;
    for (int i = lid; i < dim; i += EF_WG) x[i] = exp(x[i] - mx) * inv;
}

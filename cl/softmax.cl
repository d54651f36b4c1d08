/* Softmax and log-softmax over the middle dim of [outer, C, inner] (any
 * dim of a tensor seen so), one work-item per (outer, inner) position. The maximum is subtracted before exp for range
 * safety. */

/* log: y = x - logsumexp(x), else y = softmax(x). */
__kernel void softmax_forward(__global const float *x, __global float *y, int channels, int inner,
                              int rows, int log_out) {
    int r = get_global_id(0);
    if (r >= rows) return;
    long base = (long)(r / inner) * channels * inner + r % inner;
    float m = -INFINITY;
    for (int c = 0; c < channels; c++)
        m = fmax(m, x[base + c * inner]);
    float s = 0.0f;
    for (int c = 0; c < channels; c++)
        s += exp(x[base + c * inner] - m);
    float lse = m + log(s);
    for (int c = 0; c < channels; c++) {
        long i = base + c * inner;
        y[i] = log_out ? x[i] - lse : exp(x[i] - m) / s;
    }
}

/* softmax: dx = y * (dy - sum_c dy * y); log-softmax: dx = dy - exp(y) * sum_c dy. */
__kernel void softmax_backward(__global const float *y, __global const float *dy,
                               __global float *dx, int channels, int inner, int rows, int log_out,
                               int accumulate) {
    int r = get_global_id(0);
    if (r >= rows) return;
    long base = (long)(r / inner) * channels * inner + r % inner;
    float dot = 0.0f;
    for (int c = 0; c < channels; c++)
        dot += log_out ? dy[base + c * inner] : dy[base + c * inner] * y[base + c * inner];
    for (int c = 0; c < channels; c++) {
        long i = base + c * inner;
        float g = log_out ? dy[i] - exp(y[i]) * dot : y[i] * (dy[i] - dot);
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

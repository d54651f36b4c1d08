/* Softmax over dim 1 of [N, C, inner] and softmax cross-entropy over
 * integer labels. Softmax subtracts the maximum before exp for range
 * safety; the loss is log-sum-exp minus the label's logit. The batch mean
 * is summed by one work-item in a fixed order. */

__kernel void softmax_forward(__global const float *x, __global float *y, int channels, int inner,
                              int rows) {
    int r = get_global_id(0);
    if (r >= rows) return;
    long base = (long)(r / inner) * channels * inner + r % inner;
    float m = -INFINITY;
    for (int c = 0; c < channels; c++) m = fmax(m, x[base + c * inner]);
    float s = 0.0f;
    for (int c = 0; c < channels; c++) s += exp(x[base + c * inner] - m);
    for (int c = 0; c < channels; c++) y[base + c * inner] = exp(x[base + c * inner] - m) / s;
}

/* dx = y * (dy - sum_c dy * y) */
__kernel void softmax_backward(__global const float *y, __global const float *dy,
                               __global float *dx, int channels, int inner, int rows,
                               int accumulate) {
    int r = get_global_id(0);
    if (r >= rows) return;
    long base = (long)(r / inner) * channels * inner + r % inner;
    float dot = 0.0f;
    for (int c = 0; c < channels; c++) dot += dy[base + c * inner] * y[base + c * inner];
    for (int c = 0; c < channels; c++) {
        long i = base + c * inner;
        float g = y[i] * (dy[i] - dot);
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

/* Per sample: probabilities (kept for backward) and -log p[label]. */
__kernel void cross_entropy_forward(__global const float *logits, __global const int *labels,
                                    __global float *probs, __global float *losses, int batch,
                                    int classes) {
    int n = get_global_id(0);
    if (n >= batch) return;
    __global const float *x = logits + (long)n * classes;
    float m = -INFINITY;
    for (int c = 0; c < classes; c++) m = fmax(m, x[c]);
    float s = 0.0f;
    for (int c = 0; c < classes; c++) s += exp(x[c] - m);
    for (int c = 0; c < classes; c++) probs[(long)n * classes + c] = exp(x[c] - m) / s;
    losses[n] = log(s) + m - x[labels[n]];
}

__kernel void mean_of(__global const float *values, __global float *out, int count) {
    if (get_global_id(0) != 0) return;
    float s = 0.0f;
    for (int i = 0; i < count; i++) s += values[i];
    out[0] = s / (float)count;
}

/* dlogits = (p - onehot(label)) * dloss / N */
__kernel void cross_entropy_backward(__global const float *probs, __global const int *labels,
                                     __global const float *dloss, __global float *dx, int batch,
                                     int classes, int accumulate) {
    int i = get_global_id(0);
    if (i >= batch * classes) return;
    int n = i / classes, c = i % classes;
    float g = (probs[i] - (c == labels[n] ? 1.0f : 0.0f)) * dloss[0] / (float)batch;
    dx[i] = accumulate ? dx[i] + g : g;
}

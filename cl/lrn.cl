/* Local response normalisation across channels (Krizhevsky et al. 2012),
 * PyTorch's LocalResponseNorm: s_c = k + alpha / size * sum of x^2 over
 * channels c - size/2 .. c + (size-1)/2 (those that exist), y = x s^-beta.
 * s is kept for backward. */
__kernel void lrn_forward(__global const float *x, __global float *y, __global float *scale,
                          int total, int channels, int inner, int size, float alpha, float beta,
                          float k) {
    int i = get_global_id(0);
    if (i >= total) return;
    int p = i % inner, c = (i / inner) % channels;
    long base = (long)(i / (inner * channels)) * channels * inner + p;
    float sum = 0.0f;
    for (int j = max(0, c - size / 2); j <= min(channels - 1, c + (size - 1) / 2); j++) {
        float v = x[base + (long)j * inner];
        sum += v * v;
    }
    float s = k + alpha / (float)size * sum;
    scale[i] = s;
    y[i] = x[i] * pow(s, -beta);
}

/* dx_j = dy_j s_j^-beta - 2 alpha beta / size * x_j * sum over the
 * channels c whose window holds j of dy_c x_c s_c^(-beta-1). */
__kernel void lrn_backward(__global const float *x, __global const float *scale,
                           __global const float *dy, __global float *dx, int total, int channels,
                           int inner, int size, float alpha, float beta, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int p = i % inner, j = (i / inner) % channels;
    long base = (long)(i / (inner * channels)) * channels * inner + p;
    float sum = 0.0f;
    for (int c = max(0, j - (size - 1) / 2); c <= min(channels - 1, j + size / 2); c++) {
        long at = base + (long)c * inner;
        sum += dy[at] * x[at] * pow(scale[at], -beta - 1.0f);
    }
    float g = dy[i] * pow(scale[i], -beta) - 2.0f * alpha * beta / (float)size * x[i] * sum;
    dx[i] = accumulate ? dx[i] + g : g;
}

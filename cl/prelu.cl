/* PReLU (He et al. 2015): y = x for x > 0, a[c] * x otherwise, with one
 * learned slope per channel (dim 1) or one for the whole tensor
 * (channels = 1), and maxout (Goodfellow et al. 2013): the max over
 * consecutive groups of k channels. Tensors are [batch, channels, inner]. */

__kernel void prelu_forward(__global const float *x, __global const float *a, __global float *y,
                            int total, int channels, int inner) {
    int i = get_global_id(0);
    if (i >= total) return;
    float v = x[i];
    y[i] = v > 0.0f ? v : a[(i / inner) % channels] * v;
}

__kernel void prelu_backward_input(__global const float *x, __global const float *a,
                                   __global const float *dy, __global float *dx, int total,
                                   int channels, int inner, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    float g = x[i] > 0.0f ? dy[i] : a[(i / inner) % channels] * dy[i];
    dx[i] = accumulate ? dx[i] + g : g;
}

/* da[c] += sum of dy * x where x <= 0 over channel c (every channel when
 * there is one slope: then `stride` channels fold into it). One work-item
 * per slope, in a fixed order. */
__kernel void prelu_backward_slope(__global const float *x, __global const float *dy,
                                   __global float *da, int slopes, int batch, int channels,
                                   int inner) {
    int s = get_global_id(0);
    if (s >= slopes) return;
    float sum = 0.0f;
    for (int n = 0; n < batch; n++)
        for (int c = s; c < channels; c += slopes) {
            long base = ((long)n * channels + c) * inner;
            for (int j = 0; j < inner; j++) {
                float v = x[base + j];
                if (v <= 0.0f) sum += dy[base + j] * v;
            }
        }
    da[s] += sum;
}

/* y[n, j, p] = max over i < k of x[n, j*k + i, p]; which i in argmax. */
__kernel void maxout_forward(__global const float *x, __global float *y, __global int *argmax,
                             int total, int out_channels, int k, int inner) {
    int o = get_global_id(0);
    if (o >= total) return;
    int p = o % inner, j = (o / inner) % out_channels, n = o / (inner * out_channels);
    __global const float *src = x + ((long)n * out_channels * k + (long)j * k) * inner + p;
    float best = src[0];
    int which = 0;
    for (int i = 1; i < k; i++)
        if (src[(long)i * inner] > best) {
            best = src[(long)i * inner];
            which = i;
        }
    y[o] = best;
    argmax[o] = which;
}

/* One work-item per input element: the gradient of its output if it was
 * the max, else zero. */
__kernel void maxout_backward(__global const float *dy, __global const int *argmax,
                              __global float *dx, int total, int out_channels, int k, int inner,
                              int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int p = i % inner, c = (i / inner) % (out_channels * k), n = i / (inner * out_channels * k);
    long o = ((long)n * out_channels + c / k) * inner + p;
    float g = argmax[o] == c % k ? dy[o] : 0.0f;
    dx[i] = accumulate ? dx[i] + g : g;
}

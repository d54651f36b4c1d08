/* Argmax over dim 1 of [N, C, inner], the share of positions whose argmax
 * equals their label, for eval loops that stay on the device, and labels
 * as one-hot features [N, C, inner]. Ties
 * go to the first maximum and NaN counts as the largest value, as
 * torch.argmax does. */

int argmax_at(__global const float *x, long base, int channels, int inner) {
    float best = x[base];
    int index = 0;
    for (int c = 1; c < channels; c++) {
        float v = x[base + (long)c * inner];
        if (v > best || (isnan(v) && !isnan(best))) {
            best = v;
            index = c;
        }
    }
    return index;
}

__kernel void argmax_rows(__global const float *x, __global int *out, int channels, int inner,
                          int rows) {
    int r = get_global_id(0);
    if (r >= rows) return;
    out[r] = argmax_at(x, (long)(r / inner) * channels * inner + r % inner, channels, inner);
}

/* correct[r] = 1 where position r's argmax is its label, else 0. */
__kernel void argmax_matches(__global const float *x, __global const int *labels,
                             __global float *correct, int channels, int inner, int rows) {
    int r = get_global_id(0);
    if (r >= rows) return;
    int best = argmax_at(x, (long)(r / inner) * channels * inner + r % inner, channels, inner);
    correct[r] = best == labels[r] ? 1.0f : 0.0f;
}

/* y[n, c, p] = 1 where labels[n, p] == c, 0 elsewhere (a label outside
 * [0, C) gives a row of zeros). One work-item per element of y. */
__kernel void one_hot(__global const int *labels, __global float *y, int channels, int inner,
                      int total) {
    int i = get_global_id(0);
    if (i >= total) return;
    int p = i % inner, c = (i / inner) % channels, n = i / (inner * channels);
    y[i] = labels[(long)n * inner + p] == c ? 1.0f : 0.0f;
}

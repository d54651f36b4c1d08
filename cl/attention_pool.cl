/* Attention pooling over the positions of x [batch, channels, positions]:
 * per head h, scores s = w[h] . x[:, p] + b[h], weights a = softmax over p,
 * output [batch, heads * channels] with out[n, h, c] = sum_p a[n,h,p] x[n,c,p]
 * (the attention pooling of Lin et al. 2017 and of CNN heads such as
 * CLIP's, one learned query per head). */

__kernel void attn_pool_scores(__global const float *x, __global const float *w,
                               __global const float *b, __global float *a, int total, int heads,
                               int channels, int positions) {
    int i = get_global_id(0); /* (n, h, p) */
    if (i >= total) return;
    int p = i % positions, h = (i / positions) % heads, n = i / (positions * heads);
    __global const float *xn = x + (long)n * channels * positions + p;
    float s = b[h];
    for (int c = 0; c < channels; c++)
        s += w[h * channels + c] * xn[(long)c * positions];
    a[i] = s;
}

/* In place over each (n, h) row of positions: scores -> softmax. */
__kernel void attn_pool_softmax(__global float *a, int rows, int positions) {
    int r = get_global_id(0);
    if (r >= rows) return;
    __global float *row = a + (long)r * positions;
    float m = -INFINITY, s = 0.0f;
    for (int p = 0; p < positions; p++)
        m = fmax(m, row[p]);
    for (int p = 0; p < positions; p++)
        s += exp(row[p] - m);
    for (int p = 0; p < positions; p++)
        row[p] = exp(row[p] - m) / s;
}

__kernel void attn_pool_output(__global const float *x, __global const float *a,
                               __global float *y, int total, int heads, int channels,
                               int positions) {
    int i = get_global_id(0); /* (n, h, c) */
    if (i >= total) return;
    int c = i % channels, h = (i / channels) % heads, n = i / (channels * heads);
    __global const float *xr = x + ((long)n * channels + c) * positions;
    __global const float *ar = a + ((long)n * heads + h) * positions;
    float s = 0.0f;
    for (int p = 0; p < positions; p++)
        s += ar[p] * xr[p];
    y[i] = s;
}

/* Per (n, h) row: da_p = sum_c dy[n,h,c] x[n,c,p], then through the
 * softmax: ds_p = a_p (da_p - sum_q a_q da_q), written to ds. */
__kernel void attn_pool_dscores(__global const float *x, __global const float *a,
                                __global const float *dy, __global float *ds, int rows, int heads,
                                int channels, int positions) {
    int r = get_global_id(0);
    if (r >= rows) return;
    int n = r / heads;
    __global const float *ar = a + (long)r * positions;
    __global const float *dyr = dy + (long)r * channels;
    __global const float *xn = x + (long)n * channels * positions;
    __global float *dr = ds + (long)r * positions;
    float dot = 0.0f;
    for (int p = 0; p < positions; p++) {
        float da = 0.0f;
        for (int c = 0; c < channels; c++)
            da += dyr[c] * xn[(long)c * positions + p];
        dr[p] = da;
        dot += ar[p] * da;
    }
    for (int p = 0; p < positions; p++)
        dr[p] = ar[p] * (dr[p] - dot);
}

/* dx[n,c,p] = sum_h a[n,h,p] dy[n,h,c] + w[h,c] ds[n,h,p]. */
__kernel void attn_pool_dx(__global const float *a, __global const float *ds,
                           __global const float *dy, __global const float *w, __global float *dx,
                           int total, int heads, int channels, int positions, int accumulate) {
    int i = get_global_id(0); /* (n, c, p) */
    if (i >= total) return;
    int p = i % positions, c = (i / positions) % channels, n = i / (positions * channels);
    float g = 0.0f;
    for (int h = 0; h < heads; h++) {
        long row = (long)n * heads + h;
        g += a[row * positions + p] * dy[row * channels + c] +
             w[h * channels + c] * ds[row * positions + p];
    }
    dx[i] = accumulate ? dx[i] + g : g;
}

/* dw[h,c] += sum over n, p of ds[n,h,p] x[n,c,p]; work-item c = channels
 * gives the bias: db[h] += sum of ds[n,h,:]. */
__kernel void attn_pool_dweights(__global const float *x, __global const float *ds,
                                 __global float *dw, __global float *db, int batch, int heads,
                                 int channels, int positions) {
    int i = get_global_id(0); /* (h, c) with c <= channels */
    if (i >= heads * (channels + 1)) return;
    int h = i / (channels + 1), c = i % (channels + 1);
    float s = 0.0f;
    for (int n = 0; n < batch; n++) {
        __global const float *dr = ds + ((long)n * heads + h) * positions;
        __global const float *xr = x + ((long)n * channels + min(c, channels - 1)) * positions;
        for (int p = 0; p < positions; p++)
            s += c == channels ? dr[p] : dr[p] * xr[p];
    }
    if (c == channels)
        db[h] += s;
    else
        dw[h * channels + c] += s;
}

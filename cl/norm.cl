/* Normalisation over rows of contiguous values: group norm (Wu & He 2018;
 * a row is one sample's group of channels), instance norm (Ulyanov et al.
 * 2016; a row is one sample's channel) and layer norm (Ba et al. 2016; a
 * row is the trailing normalised dims). One work-group per row reduces in
 * a fixed order (group_sum and the shifted-data variance as batchnorm.cl);
 * the per-row mean and 1/std are kept for backward. The affine transform
 * is per channel (affine 1: index (i / inner) % channels) or per element
 * of the row (affine 2: index i % row_len), or absent (0). */

int affine_index(long i, int affine, int row_len, int channels, int inner) {
    return affine == 1 ? (int)((i / inner) % channels) : (int)(i % row_len);
}

__kernel __attribute__((reqd_work_group_size(NNCL_REDUCE_WG, 1, 1))) void
row_stats(__global const float *x, __global float *mean, __global float *invstd, int row_len,
          float eps) {
    __local float scratch[NNCL_REDUCE_WG];
    int r = get_group_id(0);
    __global const float *row = x + (long)r * row_len;
    float shift = row[0], s1 = 0.0f, s2 = 0.0f;
    /* each work-item a contiguous stretch: PoCL runs a group's items in turn */
    int seg = (row_len + NNCL_REDUCE_WG - 1) / NNCL_REDUCE_WG;
    int j = get_local_id(0) * seg, end = min(row_len, j + seg);
    for (; j < end; j++) {
        float v = row[j] - shift;
        s1 += v;
        s2 += v * v;
    }
    s1 = group_sum(s1, scratch);
    s2 = group_sum(s2, scratch);
    if (get_local_id(0) == 0) {
        float d = s1 / (float)row_len;
        mean[r] = shift + d;
        invstd[r] = rsqrt(max(s2 / (float)row_len - d * d, 0.0f) + eps);
    }
}

/* Rows normalised with running statistics per channel (instance norm in
 * eval mode): row r is channel r % channels. */
__kernel void row_stats_running(__global const float *running_mean,
                                __global const float *running_var, __global float *mean,
                                __global float *invstd, int rows, int channels, float eps) {
    int r = get_global_id(0);
    if (r >= rows) return;
    mean[r] = running_mean[r % channels];
    invstd[r] = rsqrt(running_var[r % channels] + eps);
}

/* running = (1 - momentum) running + momentum * the batch's mean over
 * samples of each channel's instance mean and unbiased variance, as
 * PyTorch's instance norm. One work-item per channel. */
__kernel void row_stats_update_running(__global const float *mean, __global const float *invstd,
                                       __global float *running_mean, __global float *running_var,
                                       int batch, int channels, int row_len, float eps,
                                       float momentum) {
    int c = get_global_id(0);
    if (c >= channels) return;
    float m = 0.0f, v = 0.0f;
    for (int n = 0; n < batch; n++) {
        int r = n * channels + c;
        m += mean[r];
        v += 1.0f / (invstd[r] * invstd[r]) - eps;
    }
    float unbias = (float)row_len / (float)(row_len - 1);
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * m / (float)batch;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * v / (float)batch * unbias;
}

__kernel void row_norm_apply(__global const float *x, __global float *y,
                             __global const float *mean, __global const float *invstd,
                             __global const float *w, __global const float *b, int total,
                             int row_len, int affine, int channels, int inner) {
    int i = get_global_id(0);
    if (i >= total) return;
    int r = i / row_len;
    float v = (x[i] - mean[r]) * invstd[r];
    if (affine) {
        int a = affine_index(i, affine, row_len, channels, inner);
        v = v * w[a] + b[a];
    }
    y[i] = v;
}

/* Per row: sums[2r] = sum dxhat, sums[2r+1] = sum dxhat * xhat, with
 * dxhat = dy * w. */
__kernel __attribute__((reqd_work_group_size(NNCL_REDUCE_WG, 1, 1))) void
row_norm_backward_sums(__global const float *x, __global const float *dy,
                       __global const float *mean, __global const float *invstd,
                       __global const float *w, __global float *sums, int row_len, int affine,
                       int channels, int inner) {
    __local float scratch[NNCL_REDUCE_WG];
    int r = get_group_id(0);
    long base = (long)r * row_len;
    float m = mean[r], is = invstd[r], s1 = 0.0f, s2 = 0.0f;
    int seg = (row_len + NNCL_REDUCE_WG - 1) / NNCL_REDUCE_WG;
    int j = get_local_id(0) * seg, end = min(row_len, j + seg);
    for (; j < end; j++) {
        long i = base + j;
        float g = dy[i] * (affine ? w[affine_index(i, affine, row_len, channels, inner)] : 1.0f);
        s1 += g;
        s2 += g * (x[i] - m) * is;
    }
    s1 = group_sum(s1, scratch);
    s2 = group_sum(s2, scratch);
    if (get_local_id(0) == 0) {
        sums[2 * r] = s1;
        sums[2 * r + 1] = s2;
    }
}

/* dx = invstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)); with
 * constant statistics (running ones) dx = invstd dxhat. */
__kernel void row_norm_backward_input(__global const float *x, __global const float *dy,
                                      __global const float *mean, __global const float *invstd,
                                      __global const float *w, __global const float *sums,
                                      __global float *dx, int total, int row_len, int affine,
                                      int channels, int inner, int batch_stats, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int r = i / row_len;
    float is = invstd[r], xhat = (x[i] - mean[r]) * is;
    float g = dy[i] * (affine ? w[affine_index(i, affine, row_len, channels, inner)] : 1.0f);
    float v = batch_stats ? is * (g - sums[2 * r] / (float)row_len -
                                  xhat * sums[2 * r + 1] / (float)row_len)
                          : is * g;
    dx[i] = accumulate ? dx[i] + v : v;
}

/* Affine gradients, one work-item per weight: dw += sum dy * xhat and
 * db += sum dy over the elements that weight scales. Per channel: every
 * (sample, position) of channel a; per element: position a of every row. */
__kernel void row_norm_affine_grad(__global const float *x, __global const float *dy,
                                   __global const float *mean, __global const float *invstd,
                                   __global float *dw, __global float *db, int weights, int total,
                                   int row_len, int affine, int channels, int inner) {
    int a = get_global_id(0);
    if (a >= weights) return;
    float sw = 0.0f, sb = 0.0f;
    if (affine == 1) {
        int batch = total / (channels * inner);
        for (int n = 0; n < batch; n++)
            for (int p = 0; p < inner; p++) {
                long i = ((long)n * channels + a) * inner + p;
                int r = (int)(i / row_len);
                sw += dy[i] * (x[i] - mean[r]) * invstd[r];
                sb += dy[i];
            }
    } else {
        for (long i = a; i < total; i += row_len) {
            int r = (int)(i / row_len);
            sw += dy[i] * (x[i] - mean[r]) * invstd[r];
            sb += dy[i];
        }
    }
    dw[a] += sw;
    db[a] += sb;
}

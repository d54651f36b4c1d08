/* Batch normalisation over [N, C, inner] (Ioffe & Szegedy 2015, Alg. 1 and
 * its backward). One work-group per channel reduces with a fixed-order tree
 * in local memory, or one work-item per channel in order (the _items
 * kernels: small channels, CPU devices), so statistics are deterministic. The mean and 1/std of
 * the pass are kept for backward. NNCL_REDUCE_WG, the work-group size, comes
 * from the build options. */

#ifndef NNCL_REDUCE_WG
#define NNCL_REDUCE_WG 64
#endif

/* A channel's batch * inner values in units of contiguous values: row n,
 * part p of `parts`, each part `seg` long (a multiple of NNCL_VEC). Parts are cut
 * so a small batch still gives every work-item of the group a unit, and
 * each work-item reads contiguous memory with vector loads: PoCL runs a
 * group's items one after another, so an item striding across a row by
 * the group size reads at a fraction of the speed. */
typedef struct bn_units {
    int count, parts, seg;
} bn_units;

bn_units bn_units_of(int batch, int inner) {
    bn_units u;
    int parts = max(1, NNCL_REDUCE_WG / batch);
    u.seg = ((inner + parts - 1) / parts + NNCL_VEC - 1) / NNCL_VEC * NNCL_VEC;
    u.parts = (inner + u.seg - 1) / u.seg;
    u.count = batch * u.parts;
    return u;
}

/* Fixed-order tree sum of one value per work-item. */
float group_sum(float s, __local float *scratch) {
    int lid = get_local_id(0);
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = NNCL_REDUCE_WG / 2; step > 0; step /= 2) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* sums[c] += sum over n, j of dy[n, c, j] (a bias's gradient): one
 * work-group per channel, as the statistics below. */
__kernel __attribute__((reqd_work_group_size(NNCL_REDUCE_WG, 1, 1))) void
channel_sum(__global const float *dy, __global float *sums, int batch, int channels, int inner) {
    __local float scratch[NNCL_REDUCE_WG];
    int c = get_group_id(0);
    float s = 0.0f;
    floatV acc = 0.0f;
    bn_units units = bn_units_of(batch, inner);
    for (int u = get_local_id(0); u < units.count; u += NNCL_REDUCE_WG) {
        int n = u / units.parts, j = u % units.parts * units.seg;
        int end = min(inner, j + units.seg);
        __global const float *row = dy + ((long)n * channels + c) * inner;
        for (; j + NNCL_VEC <= end; j += NNCL_VEC)
            acc += vloadV(0, row + j);
        for (; j < end; j++)
            s += row[j];
    }
    s = group_sum(s + sumV(acc), scratch);
    if (get_local_id(0) == 0) sums[c] += s;
}

/* Batch mean and 1/sqrt(var + eps) in one pass over x, from sums of
 * x - K with K the channel's first value: var = (S2 - S1^2 / M) / M is
 * exact in exact arithmetic for any K, and with K a sample of the data
 * the cancellation stays small (the shifted-data algorithm; Chan, Golub &
 * LeVeque 1983). Then the running-statistics update
 * running = (1 - momentum) * running + momentum * batch (unbiased variance).
 * With biased, x lacks its producer's bias b (fuse.c): the normalised
 * values are the same, the batch mean of x + b, which the running mean
 * tracks, is mean + b. */

/* Adds x[j..end) of one row, less shift, and their squares. */
static inline void bn_add_stats(__global const float *row, int j, int end, float shift,
                                floatV *acc1, floatV *acc2, float *s1, float *s2) {
    for (; j + NNCL_VEC <= end; j += NNCL_VEC) {
        floatV v = vloadV(0, row + j) - shift;
        *acc1 += v;
        *acc2 += v * v;
    }
    for (; j < end; j++) {
        float v = row[j] - shift;
        *s1 += v;
        *s2 += v * v;
    }
}

static inline void bn_store_stats(int c, float s1, float s2, float shift, int batch, int inner,
                                  __global float *mean, __global float *invstd,
                                  __global float *running_mean, __global float *running_var,
                                  float eps, float momentum, __global const float *bias,
                                  int biased) {
    float count = (float)(batch * inner), d = s1 / count;
    float m = shift + d, var = max(s2 / count - d * d, 0.0f);
    mean[c] = m;
    invstd[c] = rsqrt(var + eps);
    float biased_m = biased ? m + bias[c] : m;
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * biased_m;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * var * count / (count - 1.0f);
}

/* One work-group per channel. */
__kernel __attribute__((reqd_work_group_size(NNCL_REDUCE_WG, 1, 1))) void
bn_batch_stats(__global const float *x, __global float *mean, __global float *invstd,
               __global float *running_mean, __global float *running_var, int batch, int channels,
               int inner, float eps, float momentum, __global const float *bias, int biased) {
    __local float scratch[NNCL_REDUCE_WG];
    int c = get_group_id(0);
    float shift = x[(long)c * inner], s1 = 0.0f, s2 = 0.0f;
    floatV acc1 = 0.0f, acc2 = 0.0f;
    bn_units units = bn_units_of(batch, inner);
    for (int u = get_local_id(0); u < units.count; u += NNCL_REDUCE_WG) {
        int n = u / units.parts, j = u % units.parts * units.seg;
        bn_add_stats(x + ((long)n * channels + c) * inner, j, min(inner, j + units.seg), shift,
                     &acc1, &acc2, &s1, &s2);
    }
    s1 = group_sum(s1 + sumV(acc1), scratch);
    s2 = group_sum(s2 + sumV(acc2), scratch);
    if (get_local_id(0) == 0)
        bn_store_stats(c, s1, s2, shift, batch, inner, mean, invstd, running_mean, running_var, eps,
                       momentum, bias, biased);
}

/* One work-item per channel, for channels of few values (deep layers:
 * [32, 512, 4, 4] has 512 a channel), where a work-group's barriers cost
 * more than its values. */
__kernel void bn_batch_stats_items(__global const float *x, __global float *mean,
                                   __global float *invstd, __global float *running_mean,
                                   __global float *running_var, int batch, int channels, int inner,
                                   float eps, float momentum, __global const float *bias,
                                   int biased) {
    int c = get_global_id(0);
    if (c >= channels) return;
    float shift = x[(long)c * inner], s1 = 0.0f, s2 = 0.0f;
    floatV acc1 = 0.0f, acc2 = 0.0f;
    for (int n = 0; n < batch; n++)
        bn_add_stats(x + ((long)n * channels + c) * inner, 0, inner, shift, &acc1, &acc2, &s1, &s2);
    bn_store_stats(c, s1 + sumV(acc1), s2 + sumV(acc2), shift, batch, inner, mean, invstd,
                   running_mean, running_var, eps, momentum, bias, biased);
}

/* y = (x - mean) * invstd * gamma + beta; affine 0 means gamma 1, beta 0;
 * relu 1 applies a ReLU fused after the layer. In training mean and
 * invstd hold the batch's statistics; in eval mode (eval 1) they come from
 * the running ones, the mean moved by -b where x lacks its producer's bias
 * b (biased), and the rows of the first sample store them into mean and
 * invstd for a backward pass (no launch of their own). */
__kernel void bn_apply(__global const float *x, __global float *y, __global float *mean,
                       __global float *invstd, __global const float *gamma,
                       __global const float *beta, int channels, int inner, int rows, int affine,
                       int relu, int eval, __global const float *running_mean,
                       __global const float *running_var, float eps, __global const float *bias,
                       int biased) {
    int r = get_global_id(0); /* one (sample, channel) row of `inner` values */
    if (r >= rows) return;
    int c = r % channels;
    float m, s;
    if (eval) {
        m = biased ? running_mean[c] - bias[c] : running_mean[c];
        s = rsqrt(running_var[c] + eps);
        if (r < channels) {
            mean[c] = m;
            invstd[c] = s;
        }
    } else {
        m = mean[c];
        s = invstd[c];
    }
    float scale = s * (affine ? gamma[c] : 1.0f);
    float shift = (affine ? beta[c] : 0.0f) - m * scale;
    __global const float *xr = x + (long)r * inner;
    __global float *yr = y + (long)r * inner;
    float floor = relu ? 0.0f : -INFINITY;
    for (int j = 0; j < inner; j++)
        yr[j] = fmax(xr[j] * scale + shift, floor);
}

/* Per channel: sum_dy = sum(dy), sum_dy_xhat = sum(dy * xhat); they are
 * also the gradients of beta and gamma, added into theirs when they learn. */

static inline void bn_add_dsums(__global const float *dy, __global const float *x, int j, int end,
                                float m, float is, floatV *acc1, floatV *acc2, float *s1,
                                float *s2) {
    for (; j + NNCL_VEC <= end; j += NNCL_VEC) {
        floatV g = vloadV(0, dy + j);
        *acc1 += g;
        *acc2 += g * (vloadV(0, x + j) - m) * is;
    }
    for (; j < end; j++) {
        *s1 += dy[j];
        *s2 += dy[j] * (x[j] - m) * is;
    }
}

static inline void bn_store_dsums(int c, float s1, float s2, __global float *sums,
                                  __global float *dgamma, __global float *dbeta, int learn) {
    sums[2 * c] = s1;
    sums[2 * c + 1] = s2;
    if (learn) {
        dbeta[c] += s1;
        dgamma[c] += s2;
    }
}

/* One work-group per channel. */
__kernel __attribute__((reqd_work_group_size(NNCL_REDUCE_WG, 1, 1))) void
bn_backward_sums(__global const float *dy, __global const float *x, __global const float *mean,
                 __global const float *invstd, __global float *sums, __global float *dgamma,
                 __global float *dbeta, int batch, int channels, int inner, int learn) {
    __local float scratch[NNCL_REDUCE_WG];
    int c = get_group_id(0);
    float m = mean[c], is = invstd[c], s1 = 0.0f, s2 = 0.0f;
    floatV acc1 = 0.0f, acc2 = 0.0f;
    bn_units units = bn_units_of(batch, inner);
    for (int u = get_local_id(0); u < units.count; u += NNCL_REDUCE_WG) {
        int n = u / units.parts, j = u % units.parts * units.seg;
        long at = ((long)n * channels + c) * inner;
        bn_add_dsums(dy + at, x + at, j, min(inner, j + units.seg), m, is, &acc1, &acc2, &s1, &s2);
    }
    s1 = group_sum(s1 + sumV(acc1), scratch);
    s2 = group_sum(s2 + sumV(acc2), scratch);
    if (get_local_id(0) == 0) bn_store_dsums(c, s1, s2, sums, dgamma, dbeta, learn);
}

/* One work-item per channel (as bn_batch_stats_items). */
__kernel void bn_backward_sums_items(__global const float *dy, __global const float *x,
                                     __global const float *mean, __global const float *invstd,
                                     __global float *sums, __global float *dgamma,
                                     __global float *dbeta, int batch, int channels, int inner,
                                     int learn) {
    int c = get_global_id(0);
    if (c >= channels) return;
    float m = mean[c], is = invstd[c], s1 = 0.0f, s2 = 0.0f;
    floatV acc1 = 0.0f, acc2 = 0.0f;
    for (int n = 0; n < batch; n++) {
        long at = ((long)n * channels + c) * inner;
        bn_add_dsums(dy + at, x + at, 0, inner, m, is, &acc1, &acc2, &s1, &s2);
    }
    bn_store_dsums(c, s1 + sumV(acc1), s2 + sumV(acc2), sums, dgamma, dbeta, learn);
}

/* Training: dx = gamma * invstd * (dy - sum_dy / M - xhat * sum_dy_xhat / M);
 * eval (statistics are constants): dx = gamma * invstd * dy. */
__kernel void bn_backward_input(__global const float *dy, __global const float *x,
                                __global const float *mean, __global const float *invstd,
                                __global const float *gamma, __global const float *sums,
                                __global float *dx, int channels, int inner, int rows, float count,
                                int affine, int training, int accumulate) {
    int r = get_global_id(0); /* one (sample, channel) row */
    if (r >= rows) return;
    int c = r % channels;
    float is = invstd[c], scale = (affine ? gamma[c] : 1.0f) * is, m = mean[c];
    float mean_dy = training ? sums[2 * c] / count : 0.0f;
    float mean_dy_xhat = training ? sums[2 * c + 1] / count : 0.0f;
    long at = (long)r * inner;
    for (int j = 0; j < inner; j++) {
        float xhat = (x[at + j] - m) * is;
        float v = scale * (dy[at + j] - mean_dy - xhat * mean_dy_xhat);
        dx[at + j] = accumulate ? dx[at + j] + v : v;
    }
}

/* Batch normalisation over [N, C, inner] (Ioffe & Szegedy 2015, Alg. 1 and
 * its backward). One work-group per channel reduces with a fixed-order tree
 * in local memory, so statistics are deterministic. The mean and 1/std of
 * the pass are kept for backward. NNCL_REDUCE_WG, the work-group size, comes
 * from the build options. */

#ifndef NNCL_REDUCE_WG
#define NNCL_REDUCE_WG 64
#endif

/* Sum over the channel's N * inner elements of f(x) = (x - shift)^power,
 * power 1 or 2, reduced across the work-group. */
float channel_reduce(__global const float *x, int batch, int channels, int inner, int c,
                     float shift, int power, __local float *scratch) {
    int lid = get_local_id(0), lsize = NNCL_REDUCE_WG;
    float s = 0.0f;
    /* Wide planes: each item walks rows; narrow ones: the flattened index. */
    if (inner >= lsize) {
        for (int n = 0; n < batch; n++) {
            __global const float *row = x + ((long)n * channels + c) * inner;
            for (int j = lid; j < inner; j += lsize) {
                float v = row[j] - shift;
                s += power == 2 ? v * v : v;
            }
        }
    } else {
        for (int i = lid; i < batch * inner; i += lsize) {
            float v = x[((long)(i / inner) * channels + c) * inner + i % inner] - shift;
            s += power == 2 ? v * v : v;
        }
    }
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = lsize / 2; step > 0; step /= 2) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* Batch mean and 1/sqrt(var + eps), and the running-statistics update
 * running = (1 - momentum) * running + momentum * batch (unbiased variance). */
__kernel __attribute__((reqd_work_group_size(NNCL_REDUCE_WG, 1, 1))) void
bn_batch_stats(__global const float *x, __global float *mean, __global float *invstd,
               __global float *running_mean, __global float *running_var, int batch, int channels,
               int inner, float eps, float momentum) {
    __local float scratch[NNCL_REDUCE_WG];
    int c = get_group_id(0);
    float count = (float)(batch * inner);
    float m = channel_reduce(x, batch, channels, inner, c, 0.0f, 1, scratch) / count;
    float var = channel_reduce(x, batch, channels, inner, c, m, 2, scratch) / count;
    if (get_local_id(0) == 0) {
        mean[c] = m;
        invstd[c] = rsqrt(var + eps);
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * m;
        running_var[c] =
            (1.0f - momentum) * running_var[c] + momentum * var * count / (count - 1.0f);
    }
}

__kernel void bn_running_stats(__global const float *running_mean,
                               __global const float *running_var, __global float *mean,
                               __global float *invstd, int channels, float eps) {
    int c = get_global_id(0);
    if (c >= channels) return;
    mean[c] = running_mean[c];
    invstd[c] = rsqrt(running_var[c] + eps);
}

/* y = (x - mean) * invstd * gamma + beta; affine 0 means gamma 1, beta 0;
 * relu 1 applies a ReLU fused after the layer. */
__kernel void bn_apply(__global const float *x, __global float *y, __global const float *mean,
                       __global const float *invstd, __global const float *gamma,
                       __global const float *beta, int channels, int inner, int rows, int affine,
                       int relu) {
    int r = get_global_id(0); /* one (sample, channel) row of `inner` values */
    if (r >= rows) return;
    int c = r % channels;
    float scale = invstd[c] * (affine ? gamma[c] : 1.0f);
    float shift = (affine ? beta[c] : 0.0f) - mean[c] * scale;
    __global const float *xr = x + (long)r * inner;
    __global float *yr = y + (long)r * inner;
    float floor = relu ? 0.0f : -INFINITY;
    for (int j = 0; j < inner; j++)
        yr[j] = fmax(xr[j] * scale + shift, floor);
}

/* Per channel: sum_dy = sum(dy), sum_dy_xhat = sum(dy * xhat); they are
 * also the gradients of beta and gamma, added into theirs when they learn. */
__kernel __attribute__((reqd_work_group_size(NNCL_REDUCE_WG, 1, 1))) void
bn_backward_sums(__global const float *dy, __global const float *x, __global const float *mean,
                 __global const float *invstd, __global float *sums, __global float *dgamma,
                 __global float *dbeta, int batch, int channels, int inner, int learn) {
    __local float scratch[2 * NNCL_REDUCE_WG];
    int c = get_group_id(0), lid = get_local_id(0), lsize = NNCL_REDUCE_WG;
    float s1 = 0.0f, s2 = 0.0f, m = mean[c], is = invstd[c];
    bool rows = inner >= lsize; /* as in channel_reduce */
    for (int n = 0; n < (rows ? batch : 1); n++)
        for (int i = lid; i < (rows ? inner : batch * inner); i += lsize) {
            long at = rows ? ((long)n * channels + c) * inner + i
                           : ((long)(i / inner) * channels + c) * inner + i % inner;
            float g = dy[at];
            s1 += g;
            s2 += g * (x[at] - m) * is;
        }
    scratch[lid] = s1;
    scratch[lsize + lid] = s2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = lsize / 2; step > 0; step /= 2) {
        if (lid < step) {
            scratch[lid] += scratch[lid + step];
            scratch[lsize + lid] += scratch[lsize + lid + step];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        sums[2 * c] = scratch[0];
        sums[2 * c + 1] = scratch[lsize];
        if (learn) {
            dbeta[c] += scratch[0];
            dgamma[c] += scratch[lsize];
        }
    }
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

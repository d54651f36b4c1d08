/* Small tensor kernels shared by several ops: bias add and per-channel
 * sums (bias gradients), scaled copies that overwrite or accumulate
 * (gradients of reshape, add and concat), and elementwise sums. Reductions
 * run in a fixed order so results are the same on every run. */

/* y[n, c, j] += bias[c] over [batch, channels, inner]. */
__kernel void add_bias(__global float *y, __global const float *bias, int channels, int inner,
                       int rows) {
    int r = get_global_id(0); /* one (n, c) row of `inner` values */
    if (r >= rows) return;
    float b = bias[r % channels];
    __global float *yr = y + (long)r * inner;
    for (int j = 0; j < inner; j++)
        yr[j] += b;
}

/* sums[c] += sum over r of dy[r, c] (a linear layer's bias gradient):
 * one work-item per column, neighbours reading neighbouring values.
 * Convolutions' per-channel sums are channel_sum (batchnorm.cl). */
__kernel void column_sum(__global const float *dy, __global float *sums, int rows, int cols) {
    int c = get_global_id(0);
    if (c >= cols) return;
    float s = 0.0f;
    for (int r = 0; r < rows; r++)
        s += dy[(long)r * cols + c];
    sums[c] += s;
}

/* dst[dst_off + r * dst_stride + j] (+)= src[src_off + r * src_stride + j]
 * for r < rows, j < cols: copies blocks between tensors (concat, reshape). */
__kernel void copy_rows(__global const float *src, int src_off, int src_stride, __global float *dst,
                        int dst_off, int dst_stride, int cols, int total, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int r = i / cols, j = i % cols;
    float v = src[src_off + r * src_stride + j];
    int o = dst_off + r * dst_stride + j;
    dst[o] = accumulate ? dst[o] + v : v;
}

/* dst[dst_off + i] (+)= src[src_off + i] for i < n, NNCL_VEC values per
 * work-item: copy_rows for one contiguous block, without its index
 * division per value (reshape, add's backward). */
__kernel void copy_span(__global const float *src, int src_off, __global float *dst, int dst_off,
                        int n, int accumulate) {
    int i = get_global_id(0) * NNCL_VEC;
    if (i >= n) return;
    __global const float *s = src + src_off + i;
    __global float *d = dst + dst_off + i;
    if (i + NNCL_VEC <= n) {
        floatV v = vloadV(0, s);
        if (accumulate) v += vloadV(0, d);
        vstoreV(v, 0, d);
        return;
    }
    for (int j = 0; j < n - i; j++)
        d[j] = accumulate ? d[j] + s[j] : s[j];
}

/* dst[i] = value for i < n, NNCL_VEC values per work-item: clears and
 * fills on every core (PoCL fills buffers on one thread). */
__kernel void fill_span(__global float *dst, float value, long n) {
    long i = get_global_id(0) * (long)NNCL_VEC;
    if (i >= n) return;
    if (i + NNCL_VEC <= n) {
        vstoreV((floatV)value, 0, dst + i);
        return;
    }
    for (long j = i; j < n; j++)
        dst[j] = value;
}

/* [A, B, L] -> [B, A, L]: moves between GEMM's channel-major layout
 * [C, N * L] and the tensor layout [N, C, L]. */
__kernel void swap_outer(__global const float *src, uint src_off, __global float *dst, uint dst_off,
                         int a, int b, int len, int rows) {
    int r = get_global_id(0); /* source row (ia, ib), len values */
    if (r >= rows) return;
    int ib = r % b, ia = r / b;
    __global const float *from = src + src_off + (long)r * len;
    __global float *to = dst + dst_off + ((long)ib * a + ia) * len;
    for (int l = 0; l < len; l++)
        to[l] = from[l];
}

/* y = a + b, or with relu max(a + b, 0). */
__kernel void add2(__global const float *a, __global const float *b, __global float *y, int total,
                   int relu) {
    int i = get_global_id(0);
    if (i >= total) return;
    float s = a[i] + b[i];
    y[i] = relu ? fmax(s, 0.0f) : s;
}

#ifndef NNCL_REDUCE_WG
#define NNCL_REDUCE_WG 64
#endif

/* First pass of a fixed-order sum: work-group g adds x[i] (or x[i]^2) for
 * i = g * WG + lid + k * groups * WG, then reduces its items by a tree. A
 * single group is the whole sum: it stores scale times it at out[out_index]
 * itself, as finish_sum would (the same value: partials[0] + 0). */
__kernel __attribute__((reqd_work_group_size(NNCL_REDUCE_WG, 1, 1))) void
partial_sums(__global const float *x, int n, int square, __global float *partials, float scale,
             __global float *out, int out_index) {
    __local float scratch[NNCL_REDUCE_WG];
    int lid = get_local_id(0), stride = get_num_groups(0) * NNCL_REDUCE_WG;
    float s = 0.0f;
    for (int i = get_group_id(0) * NNCL_REDUCE_WG + lid; i < n; i += stride)
        s += square ? x[i] * x[i] : x[i];
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = NNCL_REDUCE_WG / 2; step > 0; step /= 2) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid != 0) return;
    if (get_num_groups(0) == 1)
        out[out_index] = scratch[0] * scale;
    else
        partials[get_group_id(0)] = scratch[0];
}

__kernel void finish_sum(__global const float *partials, int count, float scale,
                         __global float *out, int out_index) {
    if (get_global_id(0) != 0) return;
    float s = 0.0f;
    for (int i = 0; i < count; i++)
        s += partials[i];
    out[out_index] = s * scale;
}

/* Sum, mean and max over chosen dims. The input is seen as
 * [outer..., reduced...] through strides: the output element o's inputs
 * are base(o) + the offsets of the reduced coordinates. Each output sums
 * in a fixed order; backward is one work-item per input element. */

/* Offset into x of flat index t over `rank` dims with extents `d` and x
 * strides `s`. */
int offset_of(int t, const int *d, const int *s, int rank) {
    int at = 0;
    for (int k = rank - 1; k >= 0; k--) {
        at += t % d[k] * s[k];
        t /= d[k];
    }
    return at;
}

/* kept: the output's dims and their x strides; gone: the reduced dims.
 * op 0 sum, 1 mean, 2 max (argmax: the flat x index that won). */
__kernel void reduce_forward(__global const float *x, __global float *y, __global int *argmax,
                             int total, int8 kept_dims, int8 kept_strides, int kept_rank,
                             int8 gone_dims, int8 gone_strides, int gone_rank, int count, int op) {
    int o = get_global_id(0);
    if (o >= total) return;
    int kd[8], ks[8], gd[8], gs[8];
    int8_lanes(kept_dims, kd);
    int8_lanes(kept_strides, ks);
    int8_lanes(gone_dims, gd);
    int8_lanes(gone_strides, gs);
    int base = offset_of(o, kd, ks, kept_rank);
    float acc = op == 2 ? -INFINITY : 0.0f;
    int best = base;
    for (int t = 0; t < count; t++) {
        int at = base + offset_of(t, gd, gs, gone_rank);
        float v = x[at];
        if (op != 2) {
            acc += v;
        } else if (v > acc || isnan(v)) {
            acc = v;
            best = at;
            if (isnan(v)) break;
        }
    }
    y[o] = op == 1 ? acc / (float)count : acc;
    if (op == 2) argmax[o] = best;
}

/* dx[i] = dy[o(i)] (sum), / count (mean), or where i won (max); o(i)
 * drops the reduced coordinates of i (x dims `dims`, output strides
 * out_strides, 0 along reduced dims). */
__kernel void reduce_backward(__global const float *dy, __global const int *argmax,
                              __global float *dx, int total, int8 dims, int8 out_strides,
                              int rank, int count, int op, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int d[8], s[8];
    int8_lanes(dims, d);
    int8_lanes(out_strides, s);
    int o = offset_of(i, d, s, rank);
    float g = op == 0 ? dy[o] : op == 1 ? dy[o] / (float)count : (argmax[o] == i ? dy[o] : 0.0f);
    dx[i] = accumulate ? dx[i] + g : g;
}

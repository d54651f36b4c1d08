/* Padding (PyTorch's F.pad): constant, reflect (the edge not repeated) and
 * replicate, over any of the dims (d0 .. d7 of int8; before/after per dim,
 * zero for dims not padded). Backward gathers: per dim, the output
 * coordinates whose source is input coordinate c lie in at most three
 * ranges (c itself, its reflection on either side, or the replicated
 * edge), enumerated per element. mode: 0 constant, 1 reflect, 2 replicate. */

/* The input coordinate output coordinate o reads along a dim, or -1 for
 * the constant. */
int pad_source(int o, int in, int before, int mode) {
    int c = o - before;
    if (c >= 0 && c < in) return c;
    if (mode == 0) return -1;
    if (mode == 2) return c < 0 ? 0 : in - 1;
    return c < 0 ? -c : 2 * (in - 1) - c;
}

__kernel void pad_forward(__global const float *x, __global float *y, int total, int8 in_dims,
                          int8 out_dims, int8 before, int rank, int mode, float value) {
    int i = get_global_id(0);
    if (i >= total) return;
    int di[8], dout[8], b[8];
    int8_lanes(in_dims, di);
    int8_lanes(out_dims, dout);
    int8_lanes(before, b);
    int rest = i, at = 0, step = 1;
    for (int k = rank - 1; k >= 0; k--) {
        int c = pad_source(rest % dout[k], di[k], b[k], mode);
        rest /= dout[k];
        if (c < 0) {
            y[i] = value;
            return;
        }
        at += c * step;
        step *= di[k];
    }
    y[i] = x[at];
}

/* The output ranges (lo[r], hi[r]) inclusive along a dim that read input
 * coordinate c; returns how many. */
int pad_targets(int c, int in, int before, int after, int mode, int *lo, int *hi) {
    int n = 0;
    lo[n] = hi[n] = c + before;
    n++;
    if (mode == 1) {
        if (c >= 1 && c <= before) lo[n] = hi[n] = before - c, n++;
        int o = before + 2 * (in - 1) - c;
        if (c <= in - 2 && o < before + in + after) lo[n] = hi[n] = o, n++;
    } else if (mode == 2) {
        if (c == 0 && before > 0) lo[n] = 0, hi[n] = before - 1, n++;
        if (c == in - 1 && after > 0) lo[n] = before + in, hi[n] = before + in + after - 1, n++;
    }
    return n;
}

__kernel void pad_backward(__global const float *dy, __global float *dx, int total, int8 in_dims,
                           int8 out_dims, int8 before, int8 after, int rank, int mode,
                           int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int di[8], dout[8], b[8], a[8], lo[8][3], hi[8][3], n[8], pick[8], pos[8];
    int8_lanes(in_dims, di);
    int8_lanes(out_dims, dout);
    int8_lanes(before, b);
    int8_lanes(after, a);
    int rest = i;
    for (int k = rank - 1; k >= 0; k--) {
        n[k] = pad_targets(rest % di[k], di[k], b[k], a[k], mode, lo[k], hi[k]);
        rest /= di[k];
        pick[k] = 0;
        pos[k] = lo[k][0];
    }
    float sum = 0.0f;
    for (;;) { /* every output position in the product of the ranges */
        int at = 0;
        for (int k = 0; k < rank; k++)
            at = at * dout[k] + pos[k];
        sum += dy[at];
        int k = rank - 1;
        for (; k >= 0; k--) {
            if (pos[k] < hi[k][pick[k]]) {
                pos[k]++;
                break;
            }
            if (pick[k] + 1 < n[k]) {
                pick[k]++;
                pos[k] = lo[k][pick[k]];
                break;
            }
            pick[k] = 0;
            pos[k] = lo[k][0];
        }
        if (k < 0) break;
    }
    dx[i] = accumulate ? dx[i] + sum : sum;
}

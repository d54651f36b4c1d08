/* Strided gathers, the engine of the layout ops (permute, transpose,
 * slice): y, contiguous with dims `dims` (rank used entries of int8),
 * reads x at offset + sum of coordinate * stride. Being gathers, their
 * backward passes are gathers too, with no atomics. */

/* One work-item per row of y's last dim: the coordinates' divisions once
 * per row, then the row in a loop (contiguous reads when x's last stride
 * is 1). */
__kernel void strided_gather(__global const float *x, int offset, __global float *y, int rows,
                             int8 dims, int8 strides, int rank, int accumulate) {
    int r = get_global_id(0);
    if (r >= rows) return;
    int rest = r, at = offset, d[8], s[8];
    int8_lanes(dims, d);
    int8_lanes(strides, s);
    for (int k = rank - 2; k >= 0; k--) {
        at += rest % d[k] * s[k];
        rest /= d[k];
    }
    int len = d[rank - 1], step = s[rank - 1];
    __global float *yr = y + (long)r * len;
    for (int j = 0; j < len; j++) {
        float v = x[at + j * step];
        yr[j] = accumulate ? yr[j] + v : v;
    }
}

/* The gradient of a slice: x's element gets the slice's gradient where
 * its coordinate along `dim` is start + k * step (k < len), else 0. */
__kernel void slice_backward(__global const float *dy, __global float *dx, int total, int outer,
                             int extent, int inner, int start, int step, int len, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int j = i % inner, c = (i / inner) % extent, o = i / (inner * extent);
    int k = (c - start) / step;
    bool hit = c >= start && (c - start) % step == 0 && k < len;
    float g = hit ? dy[((long)o * len + k) * inner + j] : 0.0f;
    dx[i] = accumulate ? dx[i] + g : g;
}

/* Elementwise arithmetic with PyTorch's broadcasting: y = a op b over the
 * output dims `dims` (rank used entries), each operand read through
 * strides that are 0 along the dims it broadcasts. op: 0 add, 1 sub, 2 mul,
 * 3 div, 4 pow, 5 maximum, 6 minimum. Backward gathers: one work-item per
 * operand element sums over the output elements that read it (the dims it
 * broadcasts along), so no atomics are needed. */

float binary_apply(float a, float b, int op) {
    switch (op) {
    case 0:
        return a + b;
    case 1:
        return a - b;
    case 2:
        return a * b;
    case 3:
        return a / b;
    case 4:
        return pow(a, b);
    case 5:
        return fmax(a, b);
    default:
        return fmin(a, b);
    }
}

/* d(a op b)/da (which 0) or /db (which 1). */
float binary_slope(float a, float b, int op, int which) {
    switch (op) {
    case 0:
        return 1.0f;
    case 1:
        return which ? -1.0f : 1.0f;
    case 2:
        return which ? a : b;
    case 3:
        return which ? -a / (b * b) : 1.0f / b;
    case 4:
        return which ? pow(a, b) * log(a) : b * pow(a, b - 1.0f);
    default: { /* maximum, minimum: the chosen operand, ties halved (PyTorch) */
        float self = which ? b : a, other = which ? a : b;
        bool wins = op == 5 ? self > other : self < other;
        return wins ? 1.0f : self == other ? 0.5f : 0.0f;
    }
    }
}

__kernel void binary_forward(__global const float *a, __global const float *b, __global float *y,
                             int total, int8 dims, int8 a_strides, int8 b_strides, int rank,
                             int op) {
    int i = get_global_id(0);
    if (i >= total) return;
    int d[8], sa[8], sb[8];
    int8_lanes(dims, d);
    int8_lanes(a_strides, sa);
    int8_lanes(b_strides, sb);
    int rest = i, ia = 0, ib = 0;
    for (int k = rank - 1; k >= 0; k--) {
        int c = rest % d[k];
        rest /= d[k];
        ia += c * sa[k];
        ib += c * sb[k];
    }
    y[i] = binary_apply(a[ia], b[ib], op);
}

/* One work-item per element of the operand `which` (self): its gradient
 * sums dy * slope over the output elements reading it. self_strides are
 * the operand's strides over the output dims (0 where it broadcasts). */
__kernel void binary_backward(__global const float *a, __global const float *b,
                              __global const float *dy, __global float *dx, int total, int8 dims,
                              int8 a_strides, int8 b_strides, int rank, int op, int which,
                              int accumulate) {
    int j = get_global_id(0);
    if (j >= total) return;
    int d[8], sa[8], sb[8], self[8];
    int8_lanes(dims, d);
    int8_lanes(a_strides, sa);
    int8_lanes(b_strides, sb);
    for (int k = 0; k < 8; k++)
        self[k] = which ? sb[k] : sa[k];
    /* j's coordinates along the dims it spans; the rest are enumerated */
    int coord[8], spread = 1;
    int rest = j;
    for (int k = rank - 1; k >= 0; k--) {
        if (self[k] == 0 && d[k] > 1) {
            coord[k] = -1;
            spread *= d[k];
        } else if (self[k] == 0) {
            coord[k] = 0;
        } else {
            int size = d[k];
            coord[k] = rest % size;
            rest /= size;
        }
    }
    float sum = 0.0f;
    for (int t = 0; t < spread; t++) {
        int left = t, i = 0, ia = 0, ib = 0, step = 1;
        for (int k = rank - 1; k >= 0; k--) {
            int c = coord[k];
            if (c < 0) {
                c = left % d[k];
                left /= d[k];
            }
            i += c * step;
            step *= d[k];
            ia += c * sa[k];
            ib += c * sb[k];
        }
        sum += dy[i] * binary_slope(a[ia], b[ib], op, which);
    }
    dx[j] = accumulate ? dx[j] + sum : sum;
}

/* y = x * mul + add. */
__kernel void scale_forward(__global const float *x, __global float *y, int total, float mul,
                            float add) {
    int i = get_global_id(0);
    if (i >= total) return;
    y[i] = x[i] * mul + add;
}

__kernel void scale_backward(__global const float *dy, __global float *dx, int total, float mul,
                             int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    dx[i] = accumulate ? dx[i] + dy[i] * mul : dy[i] * mul;
}

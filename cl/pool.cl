/* Max and average pooling over (d, h, w) windows, forward and backward.
 * Max pooling records the argmax (index within the channel plane) for
 * backward, and propagates NaN as PyTorch does. Backward gathers from the
 * outputs whose windows cover each input element, so no atomics are needed. */

/* The outputs whose windows reach input i along one dim are lo..hi (those
 * with `aligned` also hit it when the window is dilated). */
void covering(int i, int k, int s, int p, int d, int out, int *lo, int *hi) {
    int first = i + p - (k - 1) * d; /* the earliest window start that reaches i */
    *lo = first <= 0 ? 0 : (first + s - 1) / s;
    *hi = min((i + p) / s, out - 1);
}

bool aligned(int i, int o, int s, int p, int d) {
    return d == 1 || (i + p - o * s) % d == 0;
}

/* One work-item per output row (plane, depth, row), walking its columns. */
__kernel void max_pool_forward(__global const float *x, __global float *y, __global int *argmax,
                               int rows, int4 in, int4 out, int4 k, int4 stride, int4 pad,
                               int4 dil) {
    int r = get_global_id(0);
    if (r >= rows) return;
    int oh = r % out.y, od = (r / out.y) % out.x, plane = r / (out.x * out.y);
    __global const float *xp = x + (long)plane * in.x * in.y * in.z;
    for (int ow = 0; ow < out.z; ow++) {
        float best = -INFINITY;
        int best_at = -1;
        for (int kd = 0; kd < k.x; kd++) {
            int id = od * stride.x - pad.x + kd * dil.x;
            if (id < 0 || id >= in.x) continue;
            for (int kh = 0; kh < k.y; kh++) {
                int ih = oh * stride.y - pad.y + kh * dil.y;
                if (ih < 0 || ih >= in.y) continue;
                for (int kw = 0; kw < k.z; kw++) {
                    int iw = ow * stride.z - pad.z + kw * dil.z;
                    if (iw < 0 || iw >= in.z) continue;
                    int at = (id * in.y + ih) * in.z + iw;
                    float v = xp[at];
                    if (best_at < 0 || v > best || isnan(v)) {
                        best = v;
                        best_at = at;
                        if (isnan(v)) break;
                    }
                }
            }
        }
        y[(long)r * out.z + ow] = best;
        argmax[(long)r * out.z + ow] = best_at;
    }
}

__kernel void max_pool_backward(__global const float *dy, __global const int *argmax,
                                __global float *dx, int total, int4 in, int4 out, int4 k,
                                int4 stride, int4 pad, int4 dil, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int at = i % (in.x * in.y * in.z);
    int iw = at % in.z, ih = (at / in.z) % in.y, id = at / (in.z * in.y);
    int plane = i / (in.x * in.y * in.z);
    long base = (long)plane * out.x * out.y * out.z;
    int d0, d1, h0, h1, w0, w1;
    covering(id, k.x, stride.x, pad.x, dil.x, out.x, &d0, &d1);
    covering(ih, k.y, stride.y, pad.y, dil.y, out.y, &h0, &h1);
    covering(iw, k.z, stride.z, pad.z, dil.z, out.z, &w0, &w1);
    float sum = 0.0f;
    for (int od = d0; od <= d1; od++) {
        if (!aligned(id, od, stride.x, pad.x, dil.x)) continue;
        for (int oh = h0; oh <= h1; oh++) {
            if (!aligned(ih, oh, stride.y, pad.y, dil.y)) continue;
            for (int ow = w0; ow <= w1; ow++) {
                if (!aligned(iw, ow, stride.z, pad.z, dil.z)) continue;
                long o = base + (od * out.y + oh) * out.z + ow;
                if (argmax[o] == at) sum += dy[o];
            }
        }
    }
    dx[i] = accumulate ? dx[i] + sum : sum;
}

/* Windows two wide, several at a time (not at width 1): a row's 2 * W
 * floats hold W windows' left (even) and right (odd) elements;
 * POOL_LANES<W> are the left elements' offsets, pool_interleave spreads
 * dy back over both elements (its lo and hi halves). */
#define POOL_LANES4 (int4)(0, 2, 4, 6)
#define POOL_LANES8 (int8)(0, 2, 4, 6, 8, 10, 12, 14)
#if NNCL_VEC == 8
#define POOL_LANES POOL_LANES8
void pool_interleave(float8 even, float8 odd, float8 *lo, float8 *hi) {
    *lo = (float8)(even.s0, odd.s0, even.s1, odd.s1, even.s2, odd.s2, even.s3, odd.s3);
    *hi = (float8)(even.s4, odd.s4, even.s5, odd.s5, even.s6, odd.s6, even.s7, odd.s7);
}
#elif NNCL_VEC == 4
#define POOL_LANES POOL_LANES4
void pool_interleave(float4 even, float4 odd, float4 *lo, float4 *hi) {
    *lo = (float4)(even.s0, odd.s0, even.s1, odd.s1);
    *hi = (float4)(even.s2, odd.s2, even.s3, odd.s3);
}
#endif

/* max_pool2_x<W>: W windows two wide whose first row starts at `left`,
 * into y[0..W) and argmax[0..W); the same order of comparisons as the
 * scalar loop in max_pool_forward_tiled, lane by lane. */
#define DEFINE_MAX_POOL2(W)                                                                        \
    void max_pool2_x##W(__global const float *xp, int left, int4 in, int4 k, __global float *y,    \
                        __global int *argmax) {                                                    \
        float##W a = vload##W(0, xp + left), b = vload##W(1, xp + left);                           \
        float##W best = (float##W)(a.even, b.even);                                                \
        int##W best_at = left + POOL_LANES##W;                                                     \
        for (int kd = 0; kd < k.x; kd++)                                                           \
            for (int kh = 0; kh < k.y; kh++) {                                                     \
                int row = left + (kd * in.y + kh) * in.z;                                          \
                a = vload##W(0, xp + row), b = vload##W(1, xp + row);                              \
                float##W even = (float##W)(a.even, b.even), odd = (float##W)(a.odd, b.odd);        \
                int##W take = isgreater(even, best) | isnan(even);                                 \
                best = select(best, even, take);                                                   \
                best_at = select(best_at, row + POOL_LANES##W, take);                              \
                take = isgreater(odd, best) | isnan(odd);                                          \
                best = select(best, odd, take);                                                    \
                best_at = select(best_at, row + POOL_LANES##W + 1, take);                          \
            }                                                                                      \
        vstore##W(best, 0, y);                                                                     \
        vstore##W(best_at, 0, argmax);                                                             \
    }
#if NNCL_VEC > 1
DEFINE_MAX_POOL2(4)
#endif
#if NNCL_VEC == 8
DEFINE_MAX_POOL2(8)
#endif

#if NNCL_VEC > 1
/* Global max pooling of one plane of n values: NNCL_VEC running maxima
 * (lane l sees values l, l + NNCL_VEC, ...), merged, then the tail, with
 * the scalar loop's outcome: the last NaN if there is one, else the first
 * of the largest values. */
void max_pool_plane(__global const float *xp, int n, __global float *y, __global int *argmax) {
    const intV lane = POOL_LANES / 2;
    floatV best = vloadV(0, xp);
    intV best_at = lane;
    int i = NNCL_VEC;
    for (; i + NNCL_VEC <= n; i += NNCL_VEC) {
        floatV v = vloadV(0, xp + i);
        intV take = isgreater(v, best) | isnan(v);
        best = select(best, v, take);
        best_at = select(best_at, i + lane, take);
    }
    float lanes[NNCL_VEC];
    int lanes_at[NNCL_VEC];
    vstoreV(best, 0, lanes);
    vstoreV(best_at, 0, lanes_at);
    float b = lanes[0];
    int at = lanes_at[0];
    for (int l = 1; l < NNCL_VEC; l++) { /* a NaN: the latest; else the largest, earliest */
        float v = lanes[l];
        int a = lanes_at[l];
        if (isnan(v) ? !isnan(b) || a > at : !isnan(b) && (v > b || (v == b && a < at))) {
            b = v;
            at = a;
        }
    }
    for (; i < n; i++) {
        float v = xp[i];
        if (v > b || isnan(v)) b = v, at = i;
    }
    *y = b;
    *argmax = at;
}
#endif

/* Max pooling forward when the windows tile the input exactly: one
 * work-item per output row (plane, depth, row), walking its columns with no
 * bounds checks (index arithmetic per element cost more than the pooling).
 * NaN wins, as in PyTorch. */
__kernel void max_pool_forward_tiled(__global const float *x, __global float *y,
                                     __global int *argmax, int rows, int4 in, int4 out, int4 k) {
    int r = get_global_id(0);
    if (r >= rows) return;
    int oh = r % out.y, od = r / out.y % out.x;
    long plane = r / out.y / out.x;
    __global const float *xp = x + plane * in.x * in.y * in.z;
    int top = (od * k.x * in.y + oh * k.y) * in.z; /* the windows' first row */
    __global float *yr = y + (long)r * out.z;
    __global int *ar = argmax + (long)r * out.z;
    int ow = 0;
#if NNCL_VEC > 1
    if (out.x * out.y * out.z == 1 && in.x * in.y * in.z >= NNCL_VEC) { /* global pooling */
        max_pool_plane(xp, in.x * in.y * in.z, y + r, argmax + r);
        return;
    }
#endif
    /* Windows two wide, 8 or 4 at a time, the last group overlapping the
     * one before (its outputs computed twice, the same both times) so that
     * short rows need no scalar tail. */
#if NNCL_VEC == 8
    for (; k.z == 2 && out.z >= 8; ow += 8) {
        ow = min(ow, out.z - 8);
        max_pool2_x8(xp, top + ow * 2, in, k, yr + ow, ar + ow);
        if (ow + 8 == out.z) return;
    }
#endif
#if NNCL_VEC > 1
    for (; k.z == 2 && out.z >= 4; ow += 4) {
        ow = min(ow, out.z - 4);
        max_pool2_x4(xp, top + ow * 2, in, k, yr + ow, ar + ow);
        if (ow + 4 == out.z) return;
    }
#endif
    for (; ow < out.z; ow++) {
        int left = top + ow * k.z, best_at = left;
        float best = xp[left];
        for (int kd = 0; kd < k.x; kd++)
            for (int kh = 0; kh < k.y; kh++) {
                int row = left + (kd * in.y + kh) * in.z;
                for (int kw = 0; kw < k.z; kw++) {
                    float v = xp[row + kw];
                    bool take = v > best || isnan(v);
                    best = take ? v : best;
                    best_at = take ? row + kw : best_at;
                }
            }
        y[(long)r * out.z + ow] = best;
        argmax[(long)r * out.z + ow] = best_at;
    }
}

/* Max pooling backward when the windows tile the input exactly (stride =
 * kernel, no padding or dilation, sizes divisible): each input element lies
 * in exactly one window, so each window writes its own elements. One
 * work-item per output row, as forward. */
__kernel void max_pool_backward_tiled(__global const float *dy, __global const int *argmax,
                                      __global float *dx, int rows, int4 in, int4 out, int4 k,
                                      int accumulate) {
    int r = get_global_id(0);
    if (r >= rows) return;
    int oh = r % out.y, od = r / out.y % out.x;
    long plane = r / out.y / out.x;
    __global float *dxp = dx + plane * in.x * in.y * in.z;
    int top = (od * k.x * in.y + oh * k.y) * in.z;
    int ow = 0;
#if NNCL_VEC > 1
    const intV lane = POOL_LANES;
    for (; k.z == 2 && ow + NNCL_VEC <= out.z; ow += NNCL_VEC) { /* as in forward */
        int left = top + ow * 2;
        intV best = vloadV(0, argmax + (long)r * out.z + ow);
        floatV g = vloadV(0, dy + (long)r * out.z + ow);
        for (int kd = 0; kd < k.x; kd++)
            for (int kh = 0; kh < k.y; kh++) {
                int row = left + (kd * in.y + kh) * in.z;
                floatV even = select((floatV)0.0f, g, row + lane == best);
                floatV odd = select((floatV)0.0f, g, row + lane + 1 == best), lo, hi;
                pool_interleave(even, odd, &lo, &hi);
                if (accumulate) {
                    lo += vloadV(0, dxp + row);
                    hi += vloadV(1, dxp + row);
                }
                vstoreV(lo, 0, dxp + row);
                vstoreV(hi, 1, dxp + row);
            }
    }
#endif
    for (; ow < out.z; ow++) {
        int left = top + ow * k.z, best = argmax[(long)r * out.z + ow];
        float g = dy[(long)r * out.z + ow];
        for (int kd = 0; kd < k.x; kd++)
            for (int kh = 0; kh < k.y; kh++) {
                int row = left + (kd * in.y + kh) * in.z;
                for (int kw = 0; kw < k.z; kw++) {
                    float v = row + kw == best ? g : 0.0f;
                    dxp[row + kw] = accumulate ? dxp[row + kw] + v : v;
                }
            }
    }
}

/* Start of the window along one dim, its end clipped to the padded input
 * (count_include_pad counts up to there) and the real elements it covers. */
int window_span(int o, int stride, int pad_begin, int size, int in, int pad_end, int *start,
                int *end) {
    int s = o * stride - pad_begin;
    int e = min(s + size, in + pad_end);
    int padded = e - s;
    *start = max(s, 0);
    *end = min(e, in);
    return padded;
}

float avg_divisor(int od, int oh, int ow, int4 in, int4 k, int4 stride, int4 pad, int4 pad_end,
                  int exclude_pad, int *d0, int *d1, int *h0, int *h1, int *w0, int *w1) {
    int pd = window_span(od, stride.x, pad.x, k.x, in.x, pad_end.x, d0, d1);
    int ph = window_span(oh, stride.y, pad.y, k.y, in.y, pad_end.y, h0, h1);
    int pw = window_span(ow, stride.z, pad.z, k.z, in.z, pad_end.z, w0, w1);
    if (exclude_pad) return (float)((*d1 - *d0) * (*h1 - *h0) * (*w1 - *w0));
    return (float)(pd * ph * pw);
}

/* Global average pooling: one work-item per plane of n values, NNCL_VEC
 * running sums along it (the windowed kernel below reads a value per
 * step, and a compiler vectorising across work-items gathers them). */
__kernel void avg_pool_global(__global const float *x, __global float *y, int planes, int n) {
    int p = get_global_id(0);
    if (p >= planes) return;
    __global const float *xp = x + (long)p * n;
    float sum = 0.0f;
    int i = 0;
#if NNCL_VEC > 1
    floatV acc = 0.0f;
    for (; i + NNCL_VEC <= n; i += NNCL_VEC)
        acc += vloadV(0, xp + i);
    float lanes[NNCL_VEC];
    vstoreV(acc, 0, lanes);
    for (int l = 0; l < NNCL_VEC; l++)
        sum += lanes[l];
#endif
    for (; i < n; i++)
        sum += xp[i];
    y[p] = sum / (float)n;
}

__kernel void avg_pool_forward(__global const float *x, __global float *y, int total, int4 in,
                               int4 out, int4 k, int4 stride, int4 pad, int4 pad_end,
                               int exclude_pad) {
    int i = get_global_id(0);
    if (i >= total) return;
    int ow = i % out.z, oh = (i / out.z) % out.y, od = (i / (out.z * out.y)) % out.x;
    int plane = i / (out.x * out.y * out.z);
    __global const float *xp = x + (long)plane * in.x * in.y * in.z;
    int d0, d1, h0, h1, w0, w1;
    float div = avg_divisor(od, oh, ow, in, k, stride, pad, pad_end, exclude_pad, &d0, &d1, &h0,
                            &h1, &w0, &w1);
    float sum = 0.0f;
    for (int id = d0; id < d1; id++)
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++)
                sum += xp[(id * in.y + ih) * in.z + iw];
    y[i] = sum / div;
}

/* Average pooling backward when the windows tile the input (global
 * pooling among them): each input element gets its one window's gradient
 * over the window's size. One work-item per output row, writing the input
 * rows under it in runs. */
__kernel void avg_pool_backward_tiled(__global const float *dy, __global float *dx, int rows,
                                      int4 in, int4 out, int4 k, int accumulate) {
    int r = get_global_id(0);
    if (r >= rows) return;
    int oh = r % out.y, od = r / out.y % out.x;
    long plane = r / out.y / out.x;
    __global float *dxp = dx + plane * in.x * in.y * in.z + (od * k.x * in.y + oh * k.y) * in.z;
    __global const float *g = dy + (long)r * out.z;
    float size = (float)(k.x * k.y * k.z);
    for (int kd = 0; kd < k.x; kd++)
        for (int kh = 0; kh < k.y; kh++) {
            __global float *row = dxp + (kd * in.y + kh) * in.z;
            for (int ow = 0; ow < out.z; ow++, row += k.z) {
                float v = g[ow] / size;
                for (int kw = 0; kw < k.z; kw++)
                    row[kw] = accumulate ? row[kw] + v : v;
            }
        }
}

__kernel void avg_pool_backward(__global const float *dy, __global float *dx, int total, int4 in,
                                int4 out, int4 k, int4 stride, int4 pad, int4 pad_end,
                                int exclude_pad, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int at = i % (in.x * in.y * in.z);
    int iw = at % in.z, ih = (at / in.z) % in.y, id = at / (in.z * in.y);
    long base = (long)(i / (in.x * in.y * in.z)) * out.x * out.y * out.z;
    int d0, d1, h0, h1, w0, w1;
    covering(id, k.x, stride.x, pad.x, 1, out.x, &d0, &d1);
    covering(ih, k.y, stride.y, pad.y, 1, out.y, &h0, &h1);
    covering(iw, k.z, stride.z, pad.z, 1, out.z, &w0, &w1);
    float sum = 0.0f;
    for (int od = d0; od <= d1; od++)
        for (int oh = h0; oh <= h1; oh++)
            for (int ow = w0; ow <= w1; ow++) {
                int a0, a1, b0, b1, c0, c1;
                float div = avg_divisor(od, oh, ow, in, k, stride, pad, pad_end, exclude_pad, &a0,
                                        &a1, &b0, &b1, &c0, &c1);
                sum += dy[base + (od * out.y + oh) * out.z + ow] / div;
            }
    dx[i] = accumulate ? dx[i] + sum : sum;
}

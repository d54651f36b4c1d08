/* Forward convolution straight from the input, register-tiled like the
 * packed GEMM: each work-item keeps 8 output channels x 2 ROW_VEC
 * consecutive outputs of one output row in vector accumulators and walks
 * the input channels and taps, two vector loads of the input row and 8
 * weight broadcasts per 16 FMAs, no unfolded copy of the input. Rows of
 * any stride in depth and height; stride 1 along the row, where the
 * outputs' inputs are consecutive. The host sends rows at least ROW_VEC
 * long. The weights are read where they lie. The input gradient of a
 * convolution of stride 1 is such a convolution too, of dY with the
 * kernels turned. */

#define ROW_CAT2(a, b) a##b
#define ROW_CAT(a, b) ROW_CAT2(a, b)
#define ROW_VEC NNCL_GEMM_VEC
#define rowv ROW_CAT(float, ROW_VEC)
#define rowi ROW_CAT(int, ROW_VEC)
#define rowu ROW_CAT(uint, ROW_VEC)
#define vload_row ROW_CAT(vload, ROW_VEC)
#define vstore_row ROW_CAT(vstore, ROW_VEC)
#define convert_rowu ROW_CAT(convert_uint, ROW_VEC)
#define convert_rowi ROW_CAT(convert_int, ROW_VEC)
#define ROW_CHANNELS 8

#if ROW_VEC == 16
#define ROW_LANES (rowu)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#elif ROW_VEC == 8
#define ROW_LANES (rowu)(0, 1, 2, 3, 4, 5, 6, 7)
#else
#define ROW_LANES (rowu)(0, 1, 2, 3)
#endif

/* Where the input vector whose lane l holds row[s + l] (0 outside the row)
 * is loaded from, inside the row, and how far its lanes then move. */
typedef struct row_window {
    int from, delta;
} row_window;

row_window row_window_at(int s, int len) {
    int from = clamp(s, 0, len - ROW_VEC);
    return (row_window){from, s - from};
}

/* v's lanes moved by delta (lane l takes v[l + delta]), zeros coming in:
 * a constant shuffle for each small delta (a kernel's reach past a row's
 * end is its padding, 1 or 2 for most layers); other deltas lane by lane. */
#define ROW_MOVED(v, d)                                                                            \
    ((d) < 0 ? shuffle2((rowv)0.0f, v, (rowu)(ROW_VEC + (d)) + ROW_LANES)                          \
             : shuffle2(v, (rowv)0.0f, (rowu)(d) + ROW_LANES))

rowv row_load(__global const float *row, row_window r) {
    rowv v = vload_row(0, row + r.from);
    switch (r.delta) {
    case 0:
        return v;
    case -1:
        return ROW_MOVED(v, -1);
    case 1:
        return ROW_MOVED(v, 1);
    case -2:
        return ROW_MOVED(v, -2);
    case 2:
        return ROW_MOVED(v, 2);
    default: {
        rowi src = r.delta + convert_rowi(ROW_LANES);
        return select((rowv)0.0f, shuffle(v, convert_rowu(src & (ROW_VEC - 1))),
                      src >= 0 && src < ROW_VEC);
    }
    }
}

/* Writes (or with accumulate adds) the lanes of v from row[at] on that lie
 * at `from` or after: the ones before belong to another vector. */
void row_store(__global float *row, int at, rowv v, int from, int accumulate) {
    if (from <= at) {
        vstore_row(accumulate ? v + vload_row(0, row + at) : v, 0, row + at);
        return;
    }
    float lanes[ROW_VEC];
    vstore_row(v, 0, lanes);
    for (int l = from - at; l < ROW_VEC; l++)
        row[at + l] = accumulate ? row[at + l] + lanes[l] : lanes[l];
}

#if ROW_CHANNELS != 8
#error "ROW_FMA writes out eight output channels"
#endif

/* acc0 += the weights of the 8 output channels at offset `at` of their
 * kernels times v0, acc1 += the same times v1, written out: a loop here
 * is left rolled, the accumulators then in memory. */
#define ROW_FMA1(r, x0, x1, at)                                                                    \
    acc0[r] = fma((rowv)(wr[r][at]), x0, acc0[r]);                                                 \
    acc1[r] = fma((rowv)(wr[r][at]), x1, acc1[r])
#define ROW_FMA(v0, v1, at)                                                                        \
    do {                                                                                           \
        rowv x0_ = (v0), x1_ = (v1);                                                               \
        ROW_FMA1(0, x0_, x1_, at);                                                                 \
        ROW_FMA1(1, x0_, x1_, at);                                                                 \
        ROW_FMA1(2, x0_, x1_, at);                                                                 \
        ROW_FMA1(3, x0_, x1_, at);                                                                 \
        ROW_FMA1(4, x0_, x1_, at);                                                                 \
        ROW_FMA1(5, x0_, x1_, at);                                                                 \
        ROW_FMA1(6, x0_, x1_, at);                                                                 \
        ROW_FMA1(7, x0_, x1_, at);                                                                 \
    } while (0)

/* Items: (image, output depth, output row, block of 2 ROW_VEC outputs,
 * group of 8 output channels), channel groups fastest so that neighbours
 * share the input rows. A row's last block ends at its end, overlapping
 * the one before (and its two vectors each other when the row is shorter
 * than the block); each output is stored by the block and vector it
 * belongs to, once. Rows of one vector go two to a work-item instead,
 * its second vector on the next row. */
__kernel void conv_rows_forward(__global const float *x, __global const float *w, __global float *y,
                                int items, int c_in, int c_out, int4 in, int4 out, int4 k,
                                int4 stride, int4 pad, int4 dil, int accumulate, int turn) {
    int i = get_global_id(0);
    if (i >= items) return;
    bool pair = out.z <= ROW_VEC;
    int groups = (c_out + ROW_CHANNELS - 1) / ROW_CHANNELS;
    int blocks = pair ? 1 : (out.z + 2 * ROW_VEC - 1) / (2 * ROW_VEC);
    int row_items = pair ? (out.y + 1) / 2 : out.y;
    int co0 = i % groups * ROW_CHANNELS, rest = i / groups;
    int start = rest % blocks * 2 * ROW_VEC, ow0 = min(start, max(out.z - 2 * ROW_VEC, 0));
    int ow1 = pair ? ow0 : min(ow0 + ROW_VEC, out.z - ROW_VEC);
    rest /= blocks;
    int oh0 = rest % row_items * (pair ? 2 : 1), oh1 = pair ? oh0 + 1 : oh0;
    int od = rest / row_items % out.x, n = rest / row_items / out.x;
    int rows = min(ROW_CHANNELS, c_out - co0), kvol = k.x * k.y * k.z;
    long ivol = (long)in.x * in.y * in.z;
    __global const float *xn = x + (long)n * c_in * ivol;
    /* Weight (o, c, tap) at wr[o - co0][c * w_c + tap * w_tap]: w [c_out][c_in]
     * [taps], or turned, the layer's w [c_in][c_out][taps] read backwards
     * along the taps. Channels past c_out read the last one, not stored. */
    int w_c = turn ? c_out * kvol : kvol, w_tap = turn ? -1 : 1;
    __global const float *wr[ROW_CHANNELS];
#pragma unroll
    for (int r = 0; r < ROW_CHANNELS; r++)
        wr[r] =
            w + (long)min(co0 + r, c_out - 1) * (turn ? kvol : c_in * kvol) + (turn ? kvol - 1 : 0);
    rowv acc0[ROW_CHANNELS], acc1[ROW_CHANNELS];
#pragma unroll
    for (int r = 0; r < ROW_CHANNELS; r++) {
        acc0[r] = 0.0f;
        acc1[r] = 0.0f;
    }
    for (int kd = 0; kd < k.x; kd++) {
        int id = od * stride.x - pad.x + kd * dil.x;
        if (id < 0 || id >= in.x) continue;
        for (int kh = 0; kh < k.y; kh++) {
            int ih0 = oh0 * stride.y - pad.y + kh * dil.y, ih1 = ih0 + (oh1 - oh0) * stride.y;
            bool ok0 = ih0 >= 0 && ih0 < in.y, ok1 = ih1 >= 0 && ih1 < in.y;
            if (!ok0 && !ok1) continue;
            __global const float *xrow0 = xn + ((long)id * in.y + clamp(ih0, 0, in.y - 1)) * in.z,
                                 *xrow1 = xn + ((long)id * in.y + clamp(ih1, 0, in.y - 1)) * in.z;
            for (int kw = 0; kw < k.z; kw++) {
                int shift = kw * dil.z - pad.z, tap = (kd * k.y + kh) * k.z + kw;
                row_window a = row_window_at(ow0 + shift, in.z),
                           b = row_window_at(ow1 + shift, in.z);
                int wt = tap * w_tap;
                if (!a.delta && !b.delta) {
                    /* Both vectors inside their rows: plain loads (the
                     * host pads the rows' ends so that they are). The
                     * compiler does not hoist row_load's switch out of
                     * a loop, and its speculative loads for the shifted
                     * cases would double the loop's loads. */
                    __global const float *x0 = xrow0 + a.from, *x1 = xrow1 + b.from;
                    if (ok0 && ok1) {
                        for (long at = 0; at < c_in * ivol; at += ivol, wt += w_c)
                            ROW_FMA(vload_row(0, x0 + at), vload_row(0, x1 + at), wt);
                    } else { /* a row above or below the input: zeros */
                        rowi keep0 = ok0 ? -1 : 0, keep1 = ok1 ? -1 : 0;
                        for (long at = 0; at < c_in * ivol; at += ivol, wt += w_c)
                            ROW_FMA(select((rowv)0.0f, vload_row(0, x0 + at), keep0),
                                    select((rowv)0.0f, vload_row(0, x1 + at), keep1), wt);
                    }
                } else {
                    for (long at = 0; at < c_in * ivol; at += ivol, wt += w_c) {
                        rowv v0 = row_load(xrow0 + at, a), v1 = row_load(xrow1 + at, b);
                        if (!ok0) v0 = 0.0f;
                        if (!ok1) v1 = 0.0f;
                        ROW_FMA(v0, v1, wt);
                    }
                }
            }
        }
    }
    long plane = (long)out.x * out.y * out.z;
    __global float *yr0 = y + (((long)n * c_out + co0) * out.x + od) * out.y * out.z,
                   *yr1 = yr0 + (long)oh1 * out.z;
    yr0 += (long)oh0 * out.z;
    int from1 = pair ? 0 : max(start, ow0 + ROW_VEC);
#pragma unroll
    for (int r = 0; r < ROW_CHANNELS; r++)
        if (r < rows) {
            row_store(yr0 + r * plane, ow0, acc0[r], start, accumulate);
            if (oh1 < out.y) row_store(yr1 + r * plane, ow1, acc1[r], from1, accumulate);
        }
}

/* Rows of len values into rows of left + len + right values, zeros at
 * both ends: the input of a padded layer, so that conv_rows_forward's
 * vectors all lie inside their rows. One work-item per row. */
__kernel void pad_row_ends(__global const float *x, __global float *y, int rows, int len, int left,
                           int right) {
    int r = get_global_id(0);
    if (r >= rows) return;
    __global const float *src = x + (long)r * len;
    __global float *dst = y + (long)r * (left + len + right);
    for (int j = 0; j < left; j++)
        dst[j] = 0.0f;
    for (int j = 0; j < len; j++)
        dst[left + j] = src[j];
    for (int j = left + len; j < left + len + right; j++)
        dst[j] = 0.0f;
}

/* The sum of v's lanes. */
float row_sum(rowv v) {
#if ROW_VEC == 16
    float8 h8 = v.lo + v.hi;
    float4 h4 = h8.lo + h8.hi;
#elif ROW_VEC == 8
    float4 h4 = v.lo + v.hi;
#else
    float4 h4 = v;
#endif
    float2 h2 = h4.lo + h4.hi;
    return h2.x + h2.y;
}

/* Taps along a row that a weight-gradient work-item sums at once. */
#define ROW_TAPS 3

/* The weight gradient straight from x and dY, register-tiled like the
 * forward pass: each work-item sums dY of 8 output channels times x of one
 * input channel shifted by up to ROW_TAPS taps of one kernel row, vectors
 * along the output rows of a chunk of images (24 vector accumulators, 8 dY
 * and ROW_TAPS x loads per 24 FMAs), then writes the 8 x ROW_TAPS sums to
 * its chunk's partial [chunks][c_out][c_in][taps]. Items: (chunk, kernel
 * depth and row, group of ROW_TAPS taps along it, input channel, group of
 * 8 output channels), the last fastest. A row's last vector overlaps the
 * one before; its lanes already counted are zeroed. */
__kernel void conv_rows_weights(__global const float *x, __global const float *dy,
                                __global float *partial, int items, int chunk, int batch, int c_in,
                                int c_out, int4 in, int4 out, int4 k, int4 stride, int4 pad,
                                int4 dil) {
    int i = get_global_id(0);
    if (i >= items) return;
    int groups = (c_out + ROW_CHANNELS - 1) / ROW_CHANNELS,
        tap_groups = (k.z + ROW_TAPS - 1) / ROW_TAPS;
    int o0 = i % groups * ROW_CHANNELS, rest = i / groups;
    int c = rest % c_in;
    rest /= c_in;
    int kw0 = rest % tap_groups * ROW_TAPS;
    rest /= tap_groups;
    int kh = rest % k.y, kd = rest / k.y % k.x, part = rest / k.y / k.x;
    long ivol = (long)in.x * in.y * in.z, ovol = (long)out.x * out.y * out.z;
    rowv acc[ROW_CHANNELS][ROW_TAPS];
#pragma unroll
    for (int r = 0; r < ROW_CHANNELS; r++)
#pragma unroll
        for (int j = 0; j < ROW_TAPS; j++)
            acc[r][j] = 0.0f;
    long dy_step[ROW_CHANNELS]; /* channels past c_out read the last one, not stored */
#pragma unroll
    for (int r = 0; r < ROW_CHANNELS; r++)
        dy_step[r] = (long)(min(o0 + r, c_out - 1) - o0) * ovol;
    int n_end = min(batch, (part + 1) * chunk);
    for (int n = part * chunk; n < n_end; n++)
        for (int od = 0; od < out.x; od++) {
            int id = od * stride.x - pad.x + kd * dil.x;
            if (id < 0 || id >= in.x) continue;
            for (int oh = 0; oh < out.y; oh++) {
                int ih = oh * stride.y - pad.y + kh * dil.y;
                if (ih < 0 || ih >= in.y) continue;
                __global const float *xrow =
                    x + ((long)n * c_in + c) * ivol + ((long)id * in.y + ih) * in.z;
                __global const float *dyrow =
                    dy + ((long)n * c_out + o0) * ovol + ((long)od * out.y + oh) * out.z;
                for (int start = 0; start < out.z; start += ROW_VEC) {
                    int s = min(start, out.z - ROW_VEC);
                    rowi fresh = convert_rowi(ROW_LANES) >= start - s;
                    rowv xv[ROW_TAPS];
                    int first = s + kw0 * dil.z - pad.z, last = first + (ROW_TAPS - 1) * dil.z;
                    if (first >= 0 && last + ROW_VEC <= in.z) { /* plain loads, as forward */
#pragma unroll
                        for (int j = 0; j < ROW_TAPS; j++)
                            xv[j] = vload_row(0, xrow + first + j * dil.z);
                    } else {
#pragma unroll
                        for (int j = 0; j < ROW_TAPS; j++)
                            xv[j] = row_load(xrow, row_window_at(first + j * dil.z, in.z));
                    }
#pragma unroll
                    for (int r = 0; r < ROW_CHANNELS; r++) {
                        rowv d = select((rowv)0.0f, vload_row(0, dyrow + dy_step[r] + s), fresh);
#pragma unroll
                        for (int j = 0; j < ROW_TAPS; j++)
                            acc[r][j] = fma(d, xv[j], acc[r][j]);
                    }
                }
            }
        }
    int kvol = k.x * k.y * k.z, tap0 = (kd * k.y + kh) * k.z + kw0;
    __global float *dst = partial + (((long)part * c_out + o0) * c_in + c) * kvol + tap0;
#pragma unroll
    for (int r = 0; r < ROW_CHANNELS; r++)
#pragma unroll
        for (int j = 0; j < ROW_TAPS; j++)
            if (o0 + r < c_out && kw0 + j < k.z)
                dst[(long)r * c_in * kvol + j] = row_sum(acc[r][j]);
}

/* The sources are built as one program: the names above stay in this file. */
#undef ROW_CAT2
#undef ROW_CAT
#undef rowv
#undef rowi
#undef rowu
#undef vload_row
#undef vstore_row
#undef convert_rowu
#undef convert_rowi
#undef ROW_TAPS
#undef ROW_MOVED
#undef ROW_FMA
#undef ROW_FMA1
#undef ROW_CHANNELS
#undef ROW_VEC
#undef ROW_LANES

/* Forward convolution straight from the input, register-tiled like the
 * packed GEMM: each work-item keeps 8 output channels x ROW_VEC
 * consecutive outputs of one output row in vector accumulators and walks
 * the input channels and taps, one vector load of the input row and 8
 * weight broadcasts per tap, no unfolded copy of the input. Rows of any
 * stride in depth and height; stride 1 along the row, where the outputs'
 * inputs are consecutive. The host sends rows at least ROW_VEC long. */

#define ROW_CAT2(a, b) a##b
#define ROW_CAT(a, b) ROW_CAT2(a, b)
#define ROW_VEC NNCL_GEMM_VEC
#define rowv ROW_CAT(float, ROW_VEC)
#define rowi ROW_CAT(int, ROW_VEC)
#define rowu ROW_CAT(uint, ROW_VEC)
#define vload_row ROW_CAT(vload, ROW_VEC)
#define vstore_row ROW_CAT(vstore, ROW_VEC)
#define convert_rowu ROW_CAT(convert_uint, ROW_VEC)
#define ROW_CHANNELS 8

#if ROW_VEC == 16
#define ROW_LANES (rowi)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#elif ROW_VEC == 8
#define ROW_LANES (rowi)(0, 1, 2, 3, 4, 5, 6, 7)
#else
#define ROW_LANES (rowi)(0, 1, 2, 3)
#endif

/* Items: (image, output depth, output row, block of ROW_VEC outputs, group
 * of 8 output channels), channel groups fastest so that neighbours share
 * the input rows. The last block of a row starts at out.z - ROW_VEC,
 * overlapping the one before (the same values written twice). */
__kernel void conv_rows_forward(__global const float *x, __global const float *w,
                                __global float *y, int items, int c_in, int c_out, int4 in,
                                int4 out, int4 k, int4 stride, int4 pad, int4 dil) {
    int i = get_global_id(0);
    if (i >= items) return;
    int groups = (c_out + ROW_CHANNELS - 1) / ROW_CHANNELS, blocks = (out.z + ROW_VEC - 1) / ROW_VEC;
    int co0 = i % groups * ROW_CHANNELS, rest = i / groups;
    int ow0 = min(rest % blocks * ROW_VEC, out.z - ROW_VEC);
    rest /= blocks;
    int oh = rest % out.y, od = rest / out.y % out.x, n = rest / out.y / out.x;
    int rows = min(ROW_CHANNELS, c_out - co0), kvol = k.x * k.y * k.z;
    long ivol = (long)in.x * in.y * in.z;
    __global const float *xn = x + (long)n * c_in * ivol;
    __global const float *wr[ROW_CHANNELS];
    rowv acc[ROW_CHANNELS];
#pragma unroll
    for (int r = 0; r < ROW_CHANNELS; r++) {
        wr[r] = w + (long)(co0 + min(r, rows - 1)) * c_in * kvol;
        acc[r] = 0.0f;
    }
    for (int kd = 0; kd < k.x; kd++) {
        int id = od * stride.x - pad.x + kd * dil.x;
        if (id < 0 || id >= in.x) continue;
        for (int kh = 0; kh < k.y; kh++) {
            int ih = oh * stride.y - pad.y + kh * dil.y;
            if (ih < 0 || ih >= in.y) continue;
            __global const float *xrow = xn + ((long)id * in.y + ih) * in.z;
            for (int kw = 0; kw < k.z; kw++) {
                /* Lane l reads input column s + l. Near the row's ends the
                 * vector is loaded from inside the row and its lanes moved
                 * into place, those outside the row zeroed. */
                int s = ow0 - pad.z + kw * dil.z, from = clamp(s, 0, in.z - ROW_VEC);
                rowi src = s - from + ROW_LANES;
                rowi inside = src >= 0 && src < ROW_VEC;
                rowu lane = convert_rowu(src & (ROW_VEC - 1));
                bool whole = s == from;
                int tap = (kd * k.y + kh) * k.z + kw;
                __global const float *xc = xrow + from;
                for (int c = 0; c < c_in; c++, xc += ivol) {
                    rowv v = vload_row(0, xc);
                    if (!whole) v = select((rowv)0.0f, shuffle(v, lane), inside);
                    int at = c * kvol + tap;
#pragma unroll
                    for (int r = 0; r < ROW_CHANNELS; r++)
                        acc[r] = fma((rowv)wr[r][at], v, acc[r]);
                }
            }
        }
    }
    __global float *yr = y + (((long)n * c_out + co0) * out.x + od) * out.y * out.z +
                         (long)oh * out.z + ow0;
    long plane = (long)out.x * out.y * out.z;
#pragma unroll
    for (int r = 0; r < ROW_CHANNELS; r++)
        if (r < rows) vstore_row(acc[r], 0, yr + r * plane);
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
#undef ROW_CHANNELS
#undef ROW_VEC
#undef ROW_LANES

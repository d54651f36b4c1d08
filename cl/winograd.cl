/* Winograd F(2x2, 3x3) convolution (Lavin & Gray 2016, "Fast Algorithms
 * for Convolutional Neural Networks"): each 2x2 output tile is
 * A^T [(G g G^T) . (B^T d B)] A over a 4x4 input tile d, so the 36
 * multiplies per tile and channel pair become 16, done as 16 GEMMs over
 * transformed tiles. Transformed data is laid out [16][channels][tiles],
 * its 16 planes `plane` floats apart. */

/* Columns per panel of the packed GEMM's layout (gemm.cl): with `packed`,
 * the input transform writes each plane as the GEMM's packed B. */
#define WINOGRAD_PANEL (2 * NNCL_GEMM_VEC)

/* The input rows h0.. of a row of tiles (n of them): their offsets in the
 * image, clamped inside it so loads stay in bounds, and whether each lies
 * inside (rows outside read as zero). */
static inline void winograd_rows(int h0, int2 size, int n, int *h_at, bool *h_ok) {
    for (int r = 0; r < n; r++) {
        int h = h0 + r;
        h_ok[r] = h >= 0 && h < size.x;
        h_at[r] = clamp(h, 0, size.x - 1) * size.y;
    }
}

/* Where tile t of channel c lies in a plane of the transformed input
 * (layouts: winograd_input), and, for layouts 0 and 1, how many tiles from
 * t on (at most n) follow it one float apart. */
static inline long winograd_at(int packed, int t, int c, int channels, int tiles) {
    return packed == 1
               ? ((long)(t / WINOGRAD_PANEL) * channels + c) * WINOGRAD_PANEL + t % WINOGRAD_PANEL
           : packed == 2
               ? ((long)(c / WINOGRAD_PANEL) * tiles + t) * WINOGRAD_PANEL + c % WINOGRAD_PANEL
               : (long)c * tiles + t;
}

static inline int winograd_run(int packed, int t, int n) {
    return packed == 1 ? min(n, WINOGRAD_PANEL - t % WINOGRAD_PANEL) : n;
}

/* Tiles F(4x4, 3x3)'s input transform and the output transforms compute
 * at a time, into private memory: with one row of stores per plane (or
 * output row) afterwards, the loop over the block's tiles has no stores
 * the compiler must keep in order, and vectorises. */
#define WINOGRAD_BLOCK 8

/* Copies a block's `planes` rows of `count` transformed tiles (row j at
 * o + j * WINOGRAD_BLOCK; a whole block as one float8), tiles t.. of
 * channel c, into their planes (layouts 0 and 1). */
static inline void winograd_store(const float *o, int planes, int count, __global float *v,
                                  int plane, int packed, int t, int c, int channels, int tiles) {
    for (int k = 0; k < count;) {
        int run = winograd_run(packed, t + k, count - k);
        __global float *dst = v + winograd_at(packed, t + k, c, channels, tiles);
        for (int j = 0; j < planes; j++)
            if (run == WINOGRAD_BLOCK)
                vstore8(vload8(0, o + j * WINOGRAD_BLOCK + k), 0, dst + (long)j * plane);
            else
                for (int e = 0; e < run; e++)
                    dst[(long)j * plane + e] = o[j * WINOGRAD_BLOCK + k + e];
        k += run;
    }
}

/* Column s of B^T d: the four rows of an input column mixed. */
static inline float4 winograd_bt(float4 d) {
    return (float4)(d.s0 - d.s2, d.s1 + d.s2, d.s2 - d.s1, d.s1 - d.s3);
}

/* One input column of four rows at w, zero outside the image. */
static inline float4 winograd_column(__global const float *src, int4 row_ok, int4 row_at, int w,
                                     int width) {
    if (w < 0 || w >= width) return 0.0f;
    return (float4)(row_ok.s0 ? src[row_at.s0 + w] : 0.0f, row_ok.s1 ? src[row_at.s1 + w] : 0.0f,
                    row_ok.s2 ? src[row_at.s2 + w] : 0.0f, row_ok.s3 ? src[row_at.s3 + w] : 0.0f);
}

/* One work-item per (image, channel, row of tiles): V = B^T d B for each 4x4
 * input tile d of the row, left to right. Neighbouring tiles share two
 * columns, so each column is loaded and mixed (B^T d) once, and index
 * arithmetic is paid per row, not per tile. rows = images * channels *
 * tiles_h; tiles = images * tiles_h * tiles_w, the chunk's tile count.
 * Each plane is [channels][tiles]; with packed 1 panels of WINOGRAD_PANEL
 * tiles, each [channels][WINOGRAD_PANEL] (the forward GEMMs' packed B);
 * with packed 2 panels of WINOGRAD_PANEL channels, each
 * [tiles][WINOGRAD_PANEL] (the weight gradient's packed B). */
__kernel void winograd_input(__global const float *x, uint x_off, __global float *v, uint v_off,
                             int plane, int packed, int rows, int channels, int tiles, int tiles_h,
                             int tiles_w, int2 size, int2 pad) {
    int i = get_global_id(0);
    if (i >= rows) return;
    int tr = i % tiles_h, c = i / tiles_h % channels, n = i / tiles_h / channels;
    __global const float *src = x + x_off + ((long)n * channels + c) * size.x * size.y;
    int h0 = 2 * tr - pad.x;
    int4 h = (int4)(h0, h0 + 1, h0 + 2, h0 + 3);
    int4 row_ok = h >= 0 && h < size.x, row_at = h * size.y;
    int first = (n * tiles_h + tr) * tiles_w; /* the row's first tile in the chunk */
    __global float *dst = v + v_off;
    int w0 = -pad.y;
    float4 t0 = winograd_bt(winograd_column(src, row_ok, row_at, w0, size.y));
    float4 t1 = winograd_bt(winograd_column(src, row_ok, row_at, w0 + 1, size.y));
    for (int tc = 0; tc < tiles_w; tc++, w0 += 2) {
        float4 t2 = winograd_bt(winograd_column(src, row_ok, row_at, w0 + 2, size.y));
        float4 t3 = winograd_bt(winograd_column(src, row_ok, row_at, w0 + 3, size.y));
        float4 o[4] = {t0 - t2, t1 + t2, t2 - t1, t1 - t3}; /* (B^T d) B, by column */
        int t = first + tc;
        long at = winograd_at(packed, t, c, channels, tiles);
        for (int s = 0; s < 4; s++) {
            dst[s * plane + at] = o[s].s0;
            dst[(4 + s) * plane + at] = o[s].s1;
            dst[(8 + s) * plane + at] = o[s].s2;
            dst[(12 + s) * plane + at] = o[s].s3;
        }
        t0 = t2;
        t1 = t3;
    }
}

/* One work-item per (output channel k, input channel c): U = G g G^T, laid
 * out [16][k][c]. With flip, g is the layer's w[c][k] turned by 180
 * degrees: the input gradient is then the forward convolution of dY. */
/* The 3x3 kernel g of pair i = (k, c): w[k][c], or with flip w[c][k]
 * turned by 180 degrees (winograd4.cl's weights transform too). */
void winograd_kernel(__global const float *w, int i, int outs, int ins, int flip, float g[3][3]) {
    int c = i % ins, k = i / ins;
    __global const float *src = w + (long)(flip ? c * outs + k : k * ins + c) * 9;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            g[a][b] = flip ? src[(2 - a) * 3 + (2 - b)] : src[a * 3 + b];
}

__kernel void winograd_weights(__global const float *w, __global float *u, int plane, int outs,
                               int ins, int flip) {
    int i = get_global_id(0);
    if (i >= outs * ins) return;
    float g[3][3], t[4][3];
    winograd_kernel(w, i, outs, ins, flip, g);
    for (int b = 0; b < 3; b++) { /* G g */
        t[0][b] = g[0][b];
        t[1][b] = 0.5f * (g[0][b] + g[1][b] + g[2][b]);
        t[2][b] = 0.5f * (g[0][b] - g[1][b] + g[2][b]);
        t[3][b] = g[2][b];
    }
    __global float *dst = u + i;
    for (int r = 0; r < 4; r++) { /* (G g) G^T */
        dst[(r * 4 + 0) * plane] = t[r][0];
        dst[(r * 4 + 1) * plane] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
        dst[(r * 4 + 2) * plane] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
        dst[(r * 4 + 3) * plane] = t[r][2];
    }
}

/* Writes (or adds) a block's m output rows of `width` floats (row a at
 * o + a * m * WINOGRAD_BLOCK) at row h0, column w0 of the output plane
 * dst, the part inside it: contiguous stores, one loop per row. */
static inline void winograd_put_rows(const float *o, int m, int width, __global float *dst, int h0,
                                     int w0, int2 size, int accumulate) {
    width = min(width, size.y - w0);
    for (int a = 0; a < m && h0 + a < size.x; a++) {
        __global float *row = dst + (h0 + a) * size.y + w0;
        const float *from = o + a * m * WINOGRAD_BLOCK;
        if (accumulate)
            for (int e = 0; e < width; e++)
                row[e] += from[e];
        else
            for (int e = 0; e < width; e++)
                row[e] = from[e];
    }
}

/* One work-item per (image, output channel, row of tiles): Y = A^T m A for
 * each tile of the row, a block of tiles at a time into private rows, then
 * written (or added) where they lie inside the output. rows = images *
 * channels * tiles_h. */
__kernel void winograd_output(__global const float *m, uint m_off, int plane, __global float *y,
                              uint y_off, int rows, int channels, int tiles, int tiles_h,
                              int tiles_w, int2 size, int accumulate) {
    int i = get_global_id(0);
    if (i >= rows) return;
    int tr = i % tiles_h, k = i / tiles_h % channels, n = i / tiles_h / channels;
    __global const float *src = m + m_off + (long)k * tiles + ((long)n * tiles_h + tr) * tiles_w;
    __global float *dst = y + y_off + ((long)n * channels + k) * size.x * size.y;
    for (int t0 = 0; t0 < tiles_w; t0 += WINOGRAD_BLOCK) {
        int count = min(WINOGRAD_BLOCK, tiles_w - t0);
        float o[2 * 2 * WINOGRAD_BLOCK];
        for (int e = 0; e < count; e++) {
            float mm[4][4];
#pragma unroll
            for (int j = 0; j < 16; j++)
                mm[j / 4][j % 4] = src[(long)j * plane + t0 + e];
            float a0[4], a1[4]; /* A^T m */
#pragma unroll
            for (int q = 0; q < 4; q++) {
                a0[q] = mm[0][q] + mm[1][q] + mm[2][q];
                a1[q] = mm[1][q] - mm[2][q] - mm[3][q];
            }
            o[2 * e] = a0[0] + a0[1] + a0[2]; /* (A^T m) A */
            o[2 * e + 1] = a0[1] - a0[2] - a0[3];
            o[2 * WINOGRAD_BLOCK + 2 * e] = a1[0] + a1[1] + a1[2];
            o[2 * WINOGRAD_BLOCK + 2 * e + 1] = a1[1] - a1[2] - a1[3];
        }
        winograd_put_rows(o, 2, 2 * count, dst, 2 * tr, 2 * t0, size, accumulate);
    }
}

/* The weight gradient (the forward pass differentiated: with M = U . V per
 * tile, dM = A dY A^T, dU = sum over tiles of dM . V, dg = G^T dU G). One
 * work-item per (image, output channel, row of tiles): each 2x2 tile of
 * dY (zero past the output's edge) becomes A dy A^T, written [16][k][t]
 * like winograd_input's plain layout. rows = images * channels * tiles_h. */
__kernel void winograd_grad_dy(__global const float *dy, uint dy_off, __global float *m, uint m_off,
                               int plane, int rows, int channels, int tiles, int tiles_h,
                               int tiles_w, int2 size) {
    int i = get_global_id(0);
    if (i >= rows) return;
    int tr = i % tiles_h, k = i / tiles_h % channels, n = i / tiles_h / channels;
    __global const float *src = dy + dy_off + ((long)n * channels + k) * size.x * size.y;
    __global float *dst = m + m_off + (long)k * tiles + ((long)n * tiles_h + tr) * tiles_w;
    int h0 = 2 * tr;
    bool second_row = h0 + 1 < size.x;
    for (int tc = 0; tc < tiles_w; tc++) {
        int w0 = 2 * tc;
        bool second_col = w0 + 1 < size.y;
        __global const float *o = src + h0 * size.y + w0;
        float y00 = o[0], y01 = second_col ? o[1] : 0.0f;
        float y10 = second_row ? o[size.y] : 0.0f;
        float y11 = second_row && second_col ? o[size.y + 1] : 0.0f;
        /* A dy: rows (y0), (y0 + y1), (y0 - y1), (-y1) of the tile's rows y0, y1 */
        float2 r[4] = {(float2)(y00, y01), (float2)(y00 + y10, y01 + y11),
                       (float2)(y00 - y10, y01 - y11), (float2)(-y10, -y11)};
        for (int a = 0; a < 4; a++) { /* (A dy) A^T: columns p, p + q, p - q, -q */
            dst[(a * 4 + 0) * plane + tc] = r[a].s0;
            dst[(a * 4 + 1) * plane + tc] = r[a].s0 + r[a].s1;
            dst[(a * 4 + 2) * plane + tc] = r[a].s0 - r[a].s1;
            dst[(a * 4 + 3) * plane + tc] = -r[a].s1;
        }
    }
}

/* One work-item per (output channel k, input channel c): dw[k][c] += G^T dU G
 * from dU laid out [16][k][c]. */
__kernel void winograd_weights_grad(__global const float *du, int plane, __global float *dw,
                                    int outs, int ins) {
    int i = get_global_id(0);
    if (i >= outs * ins) return;
    float4 e[3]; /* G^T dU, by row: dU rows 0-3 mixed */
    float4 d[4];
    for (int r = 0; r < 4; r++)
        d[r] = (float4)(du[(r * 4 + 0) * plane + i], du[(r * 4 + 1) * plane + i],
                        du[(r * 4 + 2) * plane + i], du[(r * 4 + 3) * plane + i]);
    e[0] = d[0] + 0.5f * (d[1] + d[2]);
    e[1] = 0.5f * (d[1] - d[2]);
    e[2] = 0.5f * (d[1] + d[2]) + d[3];
    __global float *dst = dw + (long)i * 9;
    for (int a = 0; a < 3; a++) { /* (G^T dU) G */
        dst[a * 3 + 0] += e[a].s0 + 0.5f * (e[a].s1 + e[a].s2);
        dst[a * 3 + 1] += 0.5f * (e[a].s1 - e[a].s2);
        dst[a * 3 + 2] += 0.5f * (e[a].s1 + e[a].s2) + e[a].s3;
    }
}

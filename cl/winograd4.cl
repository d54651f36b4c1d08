/* Winograd F(4x4, 3x3) (Lavin & Gray 2016, the points 0, +-1, +-2 and
 * infinity): each 4x4 output tile is A^T [(G g G^T) . (B^T d B)] A over a
 * 6x6 input tile d, so the 144 multiplies per tile and channel pair become
 * 36, done as 36 GEMMs; 2.25 transformed values per output instead of
 * F(2x2, 3x3)'s 4. Layouts as winograd.cl's, with 36 planes. A tile's
 * six rows or columns travel in the first six lanes of a float8. */

/* V = B^T d B for the 6x6 input tile at rows (h_at, zero where not h_ok)
 * and columns w..w+5 (zero outside [0, width)), its 36 values written to
 * o, `step` floats apart. Loads are unconditional (clamped rows, column 0
 * for those outside), so a loop over tiles vectorises with gathers. */
static inline __attribute__((always_inline)) void winograd4_tile(__global const float *src,
                                                                 const int h_at[6],
                                                                 const bool h_ok[6], int w,
                                                                 int width, float *o, int step) {
    float t[6][6]; /* B^T d, column q in t[.][q] */
#pragma unroll
    for (int q = 0; q < 6; q++) {
        bool col_ok = w + q >= 0 && w + q < width;
        float d[6];
#pragma unroll
        for (int r = 0; r < 6; r++) {
            float val = src[h_at[r] + (col_ok ? w + q : 0)];
            d[r] = h_ok[r] && col_ok ? val : 0.0f;
        }
        t[0][q] = 4.0f * d[0] - 5.0f * d[2] + d[4];
        t[1][q] = -4.0f * (d[1] + d[2]) + d[3] + d[4];
        t[2][q] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
        t[3][q] = -2.0f * (d[1] - d[3]) - d[2] + d[4];
        t[4][q] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
        t[5][q] = 4.0f * d[1] - 5.0f * d[3] + d[5];
    }
#pragma unroll
    for (int s = 0; s < 6; s++) { /* (B^T d) B */
        float *r = o + s * 6 * step;
        r[0] = 4.0f * t[s][0] - 5.0f * t[s][2] + t[s][4];
        r[step] = -4.0f * (t[s][1] + t[s][2]) + t[s][3] + t[s][4];
        r[2 * step] = 4.0f * (t[s][1] - t[s][2]) - t[s][3] + t[s][4];
        r[3 * step] = -2.0f * (t[s][1] - t[s][3]) - t[s][2] + t[s][4];
        r[4 * step] = 2.0f * (t[s][1] - t[s][3]) - t[s][2] + t[s][4];
        r[5 * step] = 4.0f * t[s][1] - 5.0f * t[s][3] + t[s][5];
    }
}

/* Transforms tiles tc.. (run of them) of one row of tiles of one channel
 * (its rows h_at, h_ok; columns padded by pad_w) a block at a time, and
 * stores them as tiles t.. of channel c of the planes at v (layouts 0 and
 * 1 of winograd_input). */
static inline __attribute__((always_inline)) void
winograd4_input_run(__global const float *src, const int h_at[6], const bool h_ok[6], int tc,
                    int run, int pad_w, int width, __global float *v, int plane, int packed, int t,
                    int c, int channels, int tiles) {
    for (int t0 = 0; t0 < run; t0 += WINOGRAD_BLOCK) {
        int count = min(WINOGRAD_BLOCK, run - t0);
        float o[36 * WINOGRAD_BLOCK];
        for (int k = 0; k < count; k++)
            winograd4_tile(src, h_at, h_ok, 4 * (tc + t0 + k) - pad_w, width, o + k,
                           WINOGRAD_BLOCK);
        winograd_store(o, 36, count, v, plane, packed, t + t0, c, channels, tiles);
    }
}

/* As winograd_input (packed 0 or 1): one work-item per (image, channel,
 * row of tiles), a block of tiles at a time. */
__kernel void winograd4_input(__global const float *x, uint x_off, __global float *v, uint v_off,
                              int plane, int packed, int rows, int channels, int tiles, int tiles_h,
                              int tiles_w, int2 size, int2 pad) {
    int i = get_global_id(0);
    if (i >= rows) return;
    int tr = i % tiles_h, c = i / tiles_h % channels, n = i / tiles_h / channels;
    __global const float *src = x + x_off + ((long)n * channels + c) * size.x * size.y;
    int h_at[6];
    bool h_ok[6];
    winograd_rows(4 * tr - pad.x, size, 6, h_at, h_ok);
    winograd4_input_run(src, h_at, h_ok, 0, tiles_w, pad.y, size.y, v + v_off, plane, packed,
                        (n * tiles_h + tr) * tiles_w, c, channels, tiles);
}

/* As winograd_weights: U = G g G^T laid out [36][k][c], g turned by 180
 * degrees with flip. */
__kernel void winograd4_weights(__global const float *w, __global float *u, int plane, int outs,
                                int ins, int flip) {
    int i = get_global_id(0);
    if (i >= outs * ins) return;
    float g[3][3], t[6][3];
    winograd_kernel(w, i, outs, ins, flip, g);
    for (int b = 0; b < 3; b++) { /* G g */
        t[0][b] = 0.25f * g[0][b];
        t[1][b] = -(g[0][b] + g[1][b] + g[2][b]) / 6.0f;
        t[2][b] = -(g[0][b] - g[1][b] + g[2][b]) / 6.0f;
        t[3][b] = g[0][b] / 24.0f + g[1][b] / 12.0f + g[2][b] / 6.0f;
        t[4][b] = g[0][b] / 24.0f - g[1][b] / 12.0f + g[2][b] / 6.0f;
        t[5][b] = g[2][b];
    }
    __global float *dst = u + i;
    for (int r = 0; r < 6; r++) { /* (G g) G^T */
        dst[(r * 6 + 0) * plane] = 0.25f * t[r][0];
        dst[(r * 6 + 1) * plane] = -(t[r][0] + t[r][1] + t[r][2]) / 6.0f;
        dst[(r * 6 + 2) * plane] = -(t[r][0] - t[r][1] + t[r][2]) / 6.0f;
        dst[(r * 6 + 3) * plane] = t[r][0] / 24.0f + t[r][1] / 12.0f + t[r][2] / 6.0f;
        dst[(r * 6 + 4) * plane] = t[r][0] / 24.0f - t[r][1] / 12.0f + t[r][2] / 6.0f;
        dst[(r * 6 + 5) * plane] = t[r][2];
    }
}

/* Y = A^T m A for `count` (at most WINOGRAD_BLOCK) consecutive tiles of
 * one output channel, the first tile's 36 values at src, `plane` floats
 * apart, the next tile's one float on: four output rows into o (row a at
 * o + a * 4 * WINOGRAD_BLOCK), as winograd_put_rows takes them. */
static inline __attribute__((always_inline)) void
winograd4_output_block(__global const float *src, long plane, int count, float *o) {
    for (int e = 0; e < count; e++) {
        float r[6][4]; /* r[s] = (m A)[s]: row s of the tile's m, A applied */
#pragma unroll
        for (int s = 0; s < 6; s++) {
            float v[6];
#pragma unroll
            for (int q = 0; q < 6; q++)
                v[q] = src[(s * 6 + q) * plane + e];
            r[s][0] = v[0] + v[1] + v[2] + v[3] + v[4];
            r[s][1] = v[1] - v[2] + 2.0f * (v[3] - v[4]);
            r[s][2] = v[1] + v[2] + 4.0f * (v[3] + v[4]);
            r[s][3] = v[1] - v[2] + 8.0f * (v[3] - v[4]) + v[5];
        }
#pragma unroll
        for (int b = 0; b < 4; b++) { /* A^T (m A), by output row */
            float *to = o + 4 * e + b;
            to[0] = r[0][b] + r[1][b] + r[2][b] + r[3][b] + r[4][b];
            to[4 * WINOGRAD_BLOCK] = r[1][b] - r[2][b] + 2.0f * (r[3][b] - r[4][b]);
            to[8 * WINOGRAD_BLOCK] = r[1][b] + r[2][b] + 4.0f * (r[3][b] + r[4][b]);
            to[12 * WINOGRAD_BLOCK] = r[1][b] - r[2][b] + 8.0f * (r[3][b] - r[4][b]) + r[5][b];
        }
    }
}

/* As winograd_output: one work-item per (image, output channel, row of
 * tiles), a block of tiles at a time. */
__kernel void winograd4_output(__global const float *m, uint m_off, int plane, __global float *y,
                               uint y_off, int rows, int channels, int tiles, int tiles_h,
                               int tiles_w, int2 size, int accumulate) {
    int i = get_global_id(0);
    if (i >= rows) return;
    int tr = i % tiles_h, k = i / tiles_h % channels, n = i / tiles_h / channels;
    __global const float *src = m + m_off + (long)k * tiles + ((long)n * tiles_h + tr) * tiles_w;
    __global float *dst = y + y_off + ((long)n * channels + k) * size.x * size.y;
    for (int t0 = 0; t0 < tiles_w; t0 += WINOGRAD_BLOCK) {
        int count = min(WINOGRAD_BLOCK, tiles_w - t0);
        float o[4 * 4 * WINOGRAD_BLOCK];
        winograd4_output_block(src + t0, plane, count, o);
        winograd_put_rows(o, 4, 4 * count, dst, 4 * tr, 4 * t0, size, accumulate);
    }
}

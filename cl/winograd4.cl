/* Winograd F(4x4, 3x3) (Lavin & Gray 2016, the points 0, +-1, +-2 and
 * infinity): each 4x4 output tile is A^T [(G g G^T) . (B^T d B)] A over a
 * 6x6 input tile d, so the 144 multiplies per tile and channel pair become
 * 36, done as 36 GEMMs; 2.25 transformed values per output instead of
 * F(2x2, 3x3)'s 4. Layouts as winograd.cl's, with 36 planes. A tile's
 * six rows or columns travel in the first six lanes of a float8. */

/* B^T v for one column (or, across columns, one row) of six values. */
static inline float8 winograd4_bt(float8 d) {
    float8 r = 0.0f;
    r.s0 = 4.0f * d.s0 - 5.0f * d.s2 + d.s4;
    r.s1 = -4.0f * (d.s1 + d.s2) + d.s3 + d.s4;
    r.s2 = 4.0f * (d.s1 - d.s2) - d.s3 + d.s4;
    r.s3 = -2.0f * (d.s1 - d.s3) - d.s2 + d.s4;
    r.s4 = 2.0f * (d.s1 - d.s3) - d.s2 + d.s4;
    r.s5 = 4.0f * d.s1 - 5.0f * d.s3 + d.s5;
    return r;
}

/* One input column of six rows at w, zero outside the image. */
static inline float8 winograd4_column(__global const float *src, int h0, int w, int2 size) {
    float8 c = 0.0f;
    if (w < 0 || w >= size.y) return c;
    float v[6];
    for (int r = 0; r < 6; r++)
        v[r] = h0 + r >= 0 && h0 + r < size.x ? src[(h0 + r) * size.y + w] : 0.0f;
    c.s0 = v[0], c.s1 = v[1], c.s2 = v[2], c.s3 = v[3], c.s4 = v[4], c.s5 = v[5];
    return c;
}

/* As winograd_input (packed 0 or 1): one work-item per (image, channel,
 * row of tiles), V = B^T d B for each 6x6 input tile of the row, left to
 * right; neighbouring tiles share two columns, transformed once. */
__kernel void winograd4_input(__global const float *x, uint x_off, __global float *v, uint v_off,
                              int plane, int packed, int rows, int channels, int tiles, int tiles_h,
                              int tiles_w, int2 size, int2 pad) {
    int i = get_global_id(0);
    if (i >= rows) return;
    int tr = i % tiles_h, c = i / tiles_h % channels, n = i / tiles_h / channels;
    __global const float *src = x + x_off + ((long)n * channels + c) * size.x * size.y;
    int h0 = 4 * tr - pad.x, w0 = -pad.y;
    int first = (n * tiles_h + tr) * tiles_w;
    __global float *dst = v + v_off;
    float8 c4 = winograd4_bt(winograd4_column(src, h0, w0, size));
    float8 c5 = winograd4_bt(winograd4_column(src, h0, w0 + 1, size));
    for (int tc = 0; tc < tiles_w; tc++, w0 += 4) {
        float8 c0 = c4, c1 = c5;
        float8 c2 = winograd4_bt(winograd4_column(src, h0, w0 + 2, size));
        float8 c3 = winograd4_bt(winograd4_column(src, h0, w0 + 3, size));
        c4 = winograd4_bt(winograd4_column(src, h0, w0 + 4, size));
        c5 = winograd4_bt(winograd4_column(src, h0, w0 + 5, size));
        float8 o[6]; /* (B^T d) B, column t of it in o[t] */
        o[0] = 4.0f * c0 - 5.0f * c2 + c4;
        o[1] = -4.0f * (c1 + c2) + c3 + c4;
        o[2] = 4.0f * (c1 - c2) - c3 + c4;
        o[3] = -2.0f * (c1 - c3) - c2 + c4;
        o[4] = 2.0f * (c1 - c3) - c2 + c4;
        o[5] = 4.0f * c1 - 5.0f * c3 + c5;
        int t = first + tc;
        long at = packed ? ((long)(t / WINOGRAD_PANEL) * channels + c) * WINOGRAD_PANEL +
                               t % WINOGRAD_PANEL
                         : (long)c * tiles + t;
        for (int s = 0; s < 6; s++) {
            float8 col = o[s];
            dst[s * plane + at] = col.s0;
            dst[(6 + s) * plane + at] = col.s1;
            dst[(12 + s) * plane + at] = col.s2;
            dst[(18 + s) * plane + at] = col.s3;
            dst[(24 + s) * plane + at] = col.s4;
            dst[(30 + s) * plane + at] = col.s5;
        }
    }
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

/* A^T v for six values: four. */
static inline float4 winograd4_at(float8 m) {
    return (float4)(m.s0 + m.s1 + m.s2 + m.s3 + m.s4, m.s1 - m.s2 + 2.0f * (m.s3 - m.s4),
                    m.s1 + m.s2 + 4.0f * (m.s3 + m.s4), m.s1 - m.s2 + 8.0f * (m.s3 - m.s4) + m.s5);
}

/* As winograd_output: one work-item per (image, output channel, row of
 * tiles), Y = A^T m A per tile, written (or added) where the 4x4 tile lies
 * inside the output. */
__kernel void winograd4_output(__global const float *m, uint m_off, int plane, __global float *y,
                               uint y_off, int rows, int channels, int tiles, int tiles_h,
                               int tiles_w, int2 size, int accumulate) {
    int i = get_global_id(0);
    if (i >= rows) return;
    int tr = i % tiles_h, k = i / tiles_h % channels, n = i / tiles_h / channels;
    __global const float *src = m + m_off + (long)k * tiles + ((long)n * tiles_h + tr) * tiles_w;
    __global float *dst = y + y_off + ((long)n * channels + k) * size.x * size.y;
    int h0 = 4 * tr;
    for (int tc = 0; tc < tiles_w; tc++) {
        float4 r[6]; /* r[s] = (m A)[s][0..3]: row s of the tile's m, A applied */
        for (int s = 0; s < 6; s++) {
            float8 row = 0.0f;
            row.s0 = src[(s * 6 + 0) * plane + tc], row.s1 = src[(s * 6 + 1) * plane + tc];
            row.s2 = src[(s * 6 + 2) * plane + tc], row.s3 = src[(s * 6 + 3) * plane + tc];
            row.s4 = src[(s * 6 + 4) * plane + tc], row.s5 = src[(s * 6 + 5) * plane + tc];
            r[s] = winograd4_at(row);
        }
        float4 out[4]; /* A^T (m A), by output row */
        out[0] = r[0] + r[1] + r[2] + r[3] + r[4];
        out[1] = r[1] - r[2] + 2.0f * (r[3] - r[4]);
        out[2] = r[1] + r[2] + 4.0f * (r[3] + r[4]);
        out[3] = r[1] - r[2] + 8.0f * (r[3] - r[4]) + r[5];
        int w0 = 4 * tc;
        for (int a = 0; a < 4 && h0 + a < size.x; a++) {
            __global float *o = dst + (h0 + a) * size.y + w0;
            float vals[4] = {out[a].s0, out[a].s1, out[a].s2, out[a].s3};
            for (int b = 0; b < 4 && w0 + b < size.y; b++)
                o[b] = accumulate ? o[b] + vals[b] : vals[b];
        }
    }
}

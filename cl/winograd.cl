/* Winograd F(2x2, 3x3) convolution (Lavin & Gray 2016, "Fast Algorithms
 * for Convolutional Neural Networks"): each 2x2 output tile is
 * A^T [(G g G^T) . (B^T d B)] A over a 4x4 input tile d, so the 36
 * multiplies per tile and channel pair become 16, done as 16 GEMMs over
 * transformed tiles. Transformed data is laid out [16][channels][tiles]. */

/* One work-item per (channel, tile of the chunk): V = B^T d B over a 4x4
 * input tile, zero outside the image. tiles = images * tiles_h * tiles_w. */
__kernel void winograd_input(__global const float *x, uint x_off, __global float *v, uint v_off,
                             int total, int tiles, int tiles_h, int tiles_w, int2 size, int2 pad) {
    int i = get_global_id(0);
    if (i >= total) return;
    int p = i % tiles, c = i / tiles, channels = total / tiles;
    int t = p % (tiles_h * tiles_w), n = p / (tiles_h * tiles_w);
    int h0 = 2 * (t / tiles_w) - pad.x, w0 = 2 * (t % tiles_w) - pad.y;
    __global const float *src = x + x_off + ((long)n * channels + c) * size.x * size.y;
    float d[4][4], b[4][4];
    for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++) {
            int h = h0 + r, w = w0 + s;
            d[r][s] = h >= 0 && h < size.x && w >= 0 && w < size.y ? src[h * size.y + w] : 0.0f;
        }
    for (int s = 0; s < 4; s++) { /* B^T d */
        b[0][s] = d[0][s] - d[2][s];
        b[1][s] = d[1][s] + d[2][s];
        b[2][s] = d[2][s] - d[1][s];
        b[3][s] = d[1][s] - d[3][s];
    }
    long plane = (long)channels * tiles;
    __global float *dst = v + v_off + (long)c * tiles + p;
    for (int r = 0; r < 4; r++) { /* (B^T d) B */
        dst[(r * 4 + 0) * plane] = b[r][0] - b[r][2];
        dst[(r * 4 + 1) * plane] = b[r][1] + b[r][2];
        dst[(r * 4 + 2) * plane] = b[r][2] - b[r][1];
        dst[(r * 4 + 3) * plane] = b[r][1] - b[r][3];
    }
}

/* One work-item per (output channel k, input channel c): U = G g G^T, laid
 * out [16][k][c]. With flip, g is the layer's w[c][k] turned by 180
 * degrees: the input gradient is then the forward convolution of dY. */
__kernel void winograd_weights(__global const float *w, __global float *u, int outs, int ins,
                               int flip) {
    int i = get_global_id(0);
    if (i >= outs * ins) return;
    int c = i % ins, k = i / ins;
    float g[3][3], t[4][3];
    __global const float *src = w + (long)(flip ? c * outs + k : k * ins + c) * 9;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            g[a][b] = flip ? src[(2 - a) * 3 + (2 - b)] : src[a * 3 + b];
    for (int b = 0; b < 3; b++) { /* G g */
        t[0][b] = g[0][b];
        t[1][b] = 0.5f * (g[0][b] + g[1][b] + g[2][b]);
        t[2][b] = 0.5f * (g[0][b] - g[1][b] + g[2][b]);
        t[3][b] = g[2][b];
    }
    long plane = (long)outs * ins;
    __global float *dst = u + i;
    for (int r = 0; r < 4; r++) { /* (G g) G^T */
        dst[(r * 4 + 0) * plane] = t[r][0];
        dst[(r * 4 + 1) * plane] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
        dst[(r * 4 + 2) * plane] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
        dst[(r * 4 + 3) * plane] = t[r][2];
    }
}

/* One work-item per (output channel, tile): Y = A^T m A, written (or added)
 * where the 2x2 tile lies inside the output. */
__kernel void winograd_output(__global const float *m, uint m_off, __global float *y, uint y_off,
                              int total, int tiles, int tiles_h, int tiles_w, int2 size,
                              int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int p = i % tiles, k = i / tiles, channels = total / tiles;
    int t = p % (tiles_h * tiles_w), n = p / (tiles_h * tiles_w);
    int h0 = 2 * (t / tiles_w), w0 = 2 * (t % tiles_w);
    long plane = (long)channels * tiles;
    __global const float *src = m + m_off + (long)k * tiles + p;
    float a[2][4];
    for (int s = 0; s < 4; s++) { /* A^T m */
        float m0 = src[(0 * 4 + s) * plane], m1 = src[(1 * 4 + s) * plane],
              m2 = src[(2 * 4 + s) * plane], m3 = src[(3 * 4 + s) * plane];
        a[0][s] = m0 + m1 + m2;
        a[1][s] = m1 - m2 - m3;
    }
    __global float *dst = y + y_off + ((long)n * channels + k) * size.x * size.y;
    for (int r = 0; r < 2; r++) {
        int h = h0 + r;
        if (h >= size.x) break;
        float out[2] = {a[r][0] + a[r][1] + a[r][2], a[r][1] - a[r][2] - a[r][3]};
        for (int s = 0; s < 2 && w0 + s < size.y; s++) {
            __global float *o = dst + h * size.y + w0 + s;
            *o = accumulate ? *o + out[s] : out[s];
        }
    }
}

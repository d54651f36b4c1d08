/* Winograd F(4x4, 3x3) with its three stages fused per block of tiles, for
 * devices on the packed GEMM path (CPUs): a work-item transforms one
 * panel's worth of tiles (every input channel), multiplies the 36 planes by
 * the transformed weights and transforms the products back into the
 * output, all through its own slot of scratch that stays in its core's
 * cache. The unfused pipeline streams the whole transformed input and
 * products through memory between launches; on early layers (many tiles,
 * few channels) that traffic costs more than the products. */

#define FUSED_NR WINOGRAD_PANEL

/* One launch: work-item i walks blocks i, i + work-items, ... of FUSED_NR
 * tiles of the whole batch (tiles = images * tiles_h * tiles_w, blocks of
 * them), its slot at scratch + scratch_off + i * 36 * (v_plane + m_plane)
 * holding the block's transformed input [36][ins][FUSED_NR] and products
 * [36][outs][FUSED_NR], planes v_plane and m_plane floats apart. u: the
 * transformed weights [36][outs][ins], planes u_plane apart. Output tiles
 * are written (or added) where they lie inside y. */
__kernel void winograd4_fused(__global const float *x, __global const float *u, int u_plane,
                              __global float *scratch, uint scratch_off, int v_plane, int m_plane,
                              __global float *y, int accumulate, int ins, int outs, int tiles,
                              int blocks, int tiles_h, int tiles_w, int2 in_size, int2 out_size,
                              int2 pad) {
    __global float *v = scratch + scratch_off + get_global_id(0) * 36 * (size_t)(v_plane + m_plane);
    __global float *m = v + 36 * (size_t)v_plane;
    long in_area = in_size.x * in_size.y, out_area = out_size.x * out_size.y;
    for (int b = get_global_id(0); b < blocks; b += get_global_size(0)) {
        int first = b * FUSED_NR, count = min(FUSED_NR, tiles - first);
        /* V: the block's tiles, a run of one row of tiles at a time */
        for (int t = first; t < first + count;) {
            int row = t / tiles_w, tc = t % tiles_w, run = min(tiles_w - tc, first + count - t);
            int h_at[6];
            bool h_ok[6];
            winograd_rows(4 * (row % tiles_h) - pad.x, in_size, 6, h_at, h_ok);
            __global const float *src = x + (long)(row / tiles_h) * ins * in_area;
            for (int c = 0; c < ins; c++)
                winograd4_input_run(src + c * in_area, h_at, h_ok, tc, run, pad.y, in_size.y, v,
                                    v_plane, 1, t - first, c, ins, FUSED_NR);
            t += run;
        }
        /* M[p] [outs x block] = U[p] [outs x ins] V[p] [ins x block] */
        for (int p = 0; p < 36; p++)
            for (int m0 = 0; m0 < outs; m0 += NNCL_GEMM_ROWS)
                tile(min(NNCL_GEMM_ROWS, outs - m0), count, ins, 1.0f, 0.0f,
                     u + (long)p * u_plane + (long)m0 * ins, ins, 1, v + (long)p * v_plane,
                     FUSED_NR, m + (long)p * m_plane + m0 * FUSED_NR, FUSED_NR, 0);
        /* Y = A^T M A, back into the output rows the tiles came from */
        for (int t = first; t < first + count;) {
            int row = t / tiles_w, tc = t % tiles_w, run = min(tiles_w - tc, first + count - t);
            int tr = row % tiles_h;
            __global float *dst = y + (long)(row / tiles_h) * outs * out_area;
            for (int k = 0; k < outs; k++)
                for (int t0 = 0; t0 < run; t0 += WINOGRAD_BLOCK) {
                    int n = min(WINOGRAD_BLOCK, run - t0);
                    float o[4 * 4 * WINOGRAD_BLOCK];
                    winograd4_output_block(m + k * FUSED_NR + t - first + t0, m_plane, n, o);
                    winograd_put_rows(o, 4, 4 * n, dst + k * out_area, 4 * tr, 4 * (tc + t0),
                                      out_size, accumulate);
                }
            t += run;
        }
    }
}

#undef FUSED_NR

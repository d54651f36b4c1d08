/* Direct convolution for devices with fast local memory (GPUs): each
 * work-group computes LOCAL_OC output channels x LOCAL_W outputs along one
 * output row, one output per work-item, and walks the input channels
 * LOCAL_C at a time: the input rows and weights they need are loaded into
 * local memory by the whole group, coalesced, then every work-item reads
 * its taps from there instead of from global memory. Weights come packed
 * (pack_row_weights), which also turns them for the input gradient. */

#define PACK_CHANNELS 8

/* The kernels a convolution of c_out outputs from c_in inputs reads, in
 * groups of 8 output channels: [c_out / 8][c_in][taps][8], zero past
 * c_out, so the 8 weights of a tap are neighbours. From w [c_out][c_in]
 * [taps], or with turn from the layer's w [c_in][c_out][taps] with every
 * axis of the kernel turned (the input gradient's kernels). One work-item
 * per packed weight. */
__kernel void pack_row_weights(__global const float *w, __global float *packed, int c_out, int c_in,
                               int taps, int turn) {
    int i = get_global_id(0), groups = (c_out + PACK_CHANNELS - 1) / PACK_CHANNELS;
    if (i >= groups * PACK_CHANNELS * c_in * taps) return;
    int o = i / (PACK_CHANNELS * c_in * taps) * PACK_CHANNELS + i % PACK_CHANNELS;
    int t = i / PACK_CHANNELS % taps, c = i / PACK_CHANNELS / taps % c_in;
    packed[i] = o >= c_out ? 0.0f
                : turn     ? w[((long)c * c_out + o) * taps + taps - 1 - t]
                           : w[((long)o * c_in + c) * taps + t];
}

#define LOCAL_OC 16
#define LOCAL_W 16
#define LOCAL_C 4
#define LOCAL_INPUT 4096   /* floats: LOCAL_C x kernel rows x span */
#define LOCAL_WEIGHTS 4096 /* floats: LOCAL_OC x LOCAL_C x taps */

/* Groups: (image, output depth, output row, block of LOCAL_W outputs,
 * block of LOCAL_OC channels), the last fastest; work-items: (channel,
 * output) within the group. The host checks that a group's input rows
 * and weights fit. */
__kernel void conv_local_forward(__global const float *x, __global const float *w,
                                 __global float *y, int c_in, int c_out, int4 in, int4 out, int4 k,
                                 int4 stride, int4 pad, int4 dil, int accumulate) {
    __local float xs[LOCAL_INPUT], ws[LOCAL_WEIGHTS];
    int l = get_local_id(0), g = get_group_id(0);
    int oc_blocks = (c_out + LOCAL_OC - 1) / LOCAL_OC, w_blocks = (out.z + LOCAL_W - 1) / LOCAL_W;
    int ocb = g % oc_blocks, wb = g / oc_blocks % w_blocks, row = g / oc_blocks / w_blocks;
    int oh = row % out.y, od = row / out.y % out.x, n = row / out.y / out.x;
    int oo = l / LOCAL_W, ow = wb * LOCAL_W + l % LOCAL_W;
    int taps = k.x * k.y * k.z, rows = k.x * k.y;
    int span = (LOCAL_W - 1) * stride.z + (k.z - 1) * dil.z + 1;
    int w0 = wb * LOCAL_W * stride.z - pad.z; /* the group's first input column */
    long ivol = (long)in.x * in.y * in.z;
    float acc = 0.0f;
    for (int c0 = 0; c0 < c_in; c0 += LOCAL_C) {
        int cn = min(LOCAL_C, c_in - c0);
        for (int e = l; e < cn * rows * span; e += LOCAL_OC * LOCAL_W) {
            int col = e % span, r = e / span % rows, c = e / span / rows;
            int id = od * stride.x - pad.x + r / k.y * dil.x;
            int ih = oh * stride.y - pad.y + r % k.y * dil.y, iw = w0 + col;
            bool inside = id >= 0 && id < in.x && ih >= 0 && ih < in.y && iw >= 0 && iw < in.z;
            xs[e] = inside
                        ? x[((long)n * c_in + c0 + c) * ivol + ((long)id * in.y + ih) * in.z + iw]
                        : 0.0f;
        }
        for (int e = l; e < LOCAL_OC * cn * taps; e += LOCAL_OC * LOCAL_W) {
            int t = e % taps, c = e / taps % cn, o = ocb * LOCAL_OC + e / taps / cn;
            ws[e] = o < c_out ? w[(((long)(o / 8) * c_in + c0 + c) * taps + t) * 8 + o % 8] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        int col0 = l % LOCAL_W * stride.z;
        for (int c = 0; c < cn; c++)
            for (int r = 0; r < rows; r++) {
                __local const float *wr = ws + (oo * cn + c) * taps + r * k.z;
                __local const float *xr = xs + (c * rows + r) * span + col0;
                for (int kw = 0; kw < k.z; kw++)
                    acc = fma(wr[kw], xr[kw * dil.z], acc);
            }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    int o = ocb * LOCAL_OC + oo;
    if (o >= c_out || ow >= out.z) return;
    __global float *at =
        y + (((long)n * c_out + o) * out.x + od) * out.y * out.z + (long)oh * out.z + ow;
    *at = accumulate ? *at + acc : acc;
}

/* The sources are built as one program: the names above stay in this file. */
#undef LOCAL_OC
#undef LOCAL_W
#undef LOCAL_C
#undef LOCAL_INPUT
#undef LOCAL_WEIGHTS
#undef PACK_CHANNELS

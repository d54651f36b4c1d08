/* Adaptive average and max pooling (PyTorch's AdaptiveAvgPool / MaxPool in
 * 1, 2 and 3D): output o along a dim of input size in and output size out
 * covers [floor(o in / out), ceil((o + 1) in / out)). Spatial vectors are
 * (d, h, w). Backward gathers: input i lies in the windows of outputs
 * floor(i out / in) .. ceil((i + 1) out / in) - 1. */

int window_start(int o, int in, int out) {
    return (int)(((long)o * in) / out);
}

int window_end(int o, int in, int out) {
    return (int)(((long)(o + 1) * in + out - 1) / out);
}

int first_window(int i, int in, int out) {
    return (int)(((long)i * out) / in);
}

int last_window(int i, int in, int out) {
    return (int)(((long)(i + 1) * out + in - 1) / in) - 1;
}

__kernel void adaptive_pool_forward(__global const float *x, __global float *y,
                                    __global int *argmax, int total, int4 in, int4 out,
                                    int is_max) {
    int i = get_global_id(0);
    if (i >= total) return;
    int ow = i % out.z, oh = (i / out.z) % out.y, od = (i / (out.z * out.y)) % out.x;
    long plane = i / (out.x * out.y * out.z);
    __global const float *p = x + plane * in.x * in.y * in.z;
    int d0 = window_start(od, in.x, out.x), d1 = window_end(od, in.x, out.x);
    int h0 = window_start(oh, in.y, out.y), h1 = window_end(oh, in.y, out.y);
    int w0 = window_start(ow, in.z, out.z), w1 = window_end(ow, in.z, out.z);
    float acc = is_max ? -INFINITY : 0.0f;
    int best = (d0 * in.y + h0) * in.z + w0;
    for (int d = d0; d < d1; d++)
        for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++) {
                int at = (d * in.y + h) * in.z + w;
                float v = p[at];
                if (!is_max)
                    acc += v;
                else if (v > acc || isnan(v)) {
                    acc = v;
                    best = at;
                }
            }
    if (is_max) {
        y[i] = acc;
        argmax[i] = best;
    } else {
        y[i] = acc / (float)((d1 - d0) * (h1 - h0) * (w1 - w0));
    }
}

__kernel void adaptive_pool_backward(__global const float *dy, __global const int *argmax,
                                     __global float *dx, int total, int4 in, int4 out, int is_max,
                                     int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int iw = i % in.z, ih = (i / in.z) % in.y, id = (i / (in.z * in.y)) % in.x;
    long plane = i / (in.x * in.y * in.z);
    int at = (id * in.y + ih) * in.z + iw;
    long base = plane * out.x * out.y * out.z;
    float sum = 0.0f;
    for (int od = first_window(id, in.x, out.x); od <= last_window(id, in.x, out.x); od++)
        for (int oh = first_window(ih, in.y, out.y); oh <= last_window(ih, in.y, out.y); oh++)
            for (int ow = first_window(iw, in.z, out.z); ow <= last_window(iw, in.z, out.z);
                 ow++) {
                long o = base + (od * out.y + oh) * out.z + ow;
                if (is_max) {
                    if (argmax[o] == at) sum += dy[o];
                } else {
                    int count = (window_end(od, in.x, out.x) - window_start(od, in.x, out.x)) *
                                (window_end(oh, in.y, out.y) - window_start(oh, in.y, out.y)) *
                                (window_end(ow, in.z, out.z) - window_start(ow, in.z, out.z));
                    sum += dy[o] / (float)count;
                }
            }
    dx[i] = accumulate ? dx[i] + sum : sum;
}

/* Convolution by im2col + GEMM: im2col unrolls one image's receptive fields
 * into columns, col2im folds column gradients back onto the image. Spatial
 * vectors are (d, h, w) so one kernel serves 1D, 2D and 3D. Column layout:
 * row = channel * K + kernel offset, column = output position.
 * col2im gathers instead of scattering, so no atomics are needed. */

__kernel void im2col(__global const float *x, uint x_off, __global float *col, int total,
                     int4 in, int4 out, int4 k, int4 stride, int4 pad, int4 dil) {
    int i = get_global_id(0);
    if (i >= total) return;
    int ovol = out.x * out.y * out.z, kvol = k.x * k.y * k.z;
    int o = i % ovol, r = i / ovol;
    int kidx = r % kvol, c = r / kvol;
    int ow = o % out.z, oh = (o / out.z) % out.y, od = o / (out.z * out.y);
    int kw = kidx % k.z, kh = (kidx / k.z) % k.y, kd = kidx / (k.z * k.y);
    int id = od * stride.x - pad.x + kd * dil.x;
    int ih = oh * stride.y - pad.y + kh * dil.y;
    int iw = ow * stride.z - pad.z + kw * dil.z;
    float v = 0.0f;
    if (id >= 0 && id < in.x && ih >= 0 && ih < in.y && iw >= 0 && iw < in.z)
        v = x[x_off + ((c * in.x + id) * in.y + ih) * in.z + iw];
    col[i] = v;
}

/* The output index along one dim that kernel tap kk reads input i from, or
 * -1 when no output does. */
int tap_source(int i, int kk, int stride, int pad, int dil, int out) {
    int num = i + pad - kk * dil;
    if (num < 0 || num % stride) return -1;
    int o = num / stride;
    return o < out ? o : -1;
}

__kernel void col2im(__global const float *col, __global float *dx, uint dx_off, int total,
                     int4 in, int4 out, int4 k, int4 stride, int4 pad, int4 dil, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int iw = i % in.z, ih = (i / in.z) % in.y, id = (i / (in.z * in.y)) % in.x;
    int c = i / (in.x * in.y * in.z);
    int ovol = out.x * out.y * out.z, kvol = k.x * k.y * k.z;
    float sum = 0.0f;
    for (int kd = 0; kd < k.x; kd++) {
        int od = tap_source(id, kd, stride.x, pad.x, dil.x, out.x);
        if (od < 0) continue;
        for (int kh = 0; kh < k.y; kh++) {
            int oh = tap_source(ih, kh, stride.y, pad.y, dil.y, out.y);
            if (oh < 0) continue;
            for (int kw = 0; kw < k.z; kw++) {
                int ow = tap_source(iw, kw, stride.z, pad.z, dil.z, out.z);
                if (ow < 0) continue;
                int row = c * kvol + (kd * k.y + kh) * k.z + kw;
                sum += col[row * ovol + (od * out.y + oh) * out.z + ow];
            }
        }
    }
    dx[dx_off + i] = accumulate ? dx[dx_off + i] + sum : sum;
}

/* Convolution by im2col + GEMM over a chunk of images: im2col unrolls every
 * image's receptive fields into one matrix, col2im folds column gradients
 * back onto the images. Spatial vectors are (d, h, w) so one kernel serves
 * 1D, 2D and 3D. Column matrix: row = channel * K + kernel offset, column =
 * image * L + output position (L output positions per image). col2im
 * gathers instead of scattering, so no atomics are needed. */

/* One work-item per (column row, image, output depth, output row): it
 * writes out.z consecutive columns, so the index arithmetic is paid once
 * per row instead of once per element. */
__kernel void im2col(__global const float *x, uint x_off, __global float *col, int rows,
                     int batch, int4 in, int4 out, int4 k, int4 stride, int4 pad, int4 dil) {
    int i = get_global_id(0);
    if (i >= rows) return;
    int oh = i % out.y, od = (i / out.y) % out.x, n = (i / (out.y * out.x)) % batch;
    int r = i / (out.y * out.x * batch);
    int kvol = k.x * k.y * k.z, kidx = r % kvol, c = r / kvol;
    int channels = rows / (out.y * out.x * batch * kvol);
    int kw = kidx % k.z, kh = (kidx / k.z) % k.y, kd = kidx / (k.z * k.y);
    int id = od * stride.x - pad.x + kd * dil.x, ih = oh * stride.y - pad.y + kh * dil.y;
    int ovol = out.x * out.y * out.z;
    __global float *dst = col + ((long)r * batch + n) * ovol + (od * out.y + oh) * out.z;
    bool row_in = id >= 0 && id < in.x && ih >= 0 && ih < in.y;
    __global const float *src =
        x + x_off + (((long)n * channels + c) * in.x + (row_in ? id : 0)) * in.y * in.z +
        (row_in ? ih : 0) * in.z;
    int iw = kw * dil.z - pad.z;
    for (int ow = 0; ow < out.z; ow++, iw += stride.z)
        dst[ow] = row_in && iw >= 0 && iw < in.z ? src[iw] : 0.0f;
}

/* The output index along one dim that kernel tap kk reads input i from, or
 * -1 when no output does. */
int tap_source(int i, int kk, int stride, int pad, int dil, int out) {
    int num = i + pad - kk * dil;
    if (num < 0 || num % stride) return -1;
    int o = num / stride;
    return o < out ? o : -1;
}

/* One work-item per input row (image, channel, depth, row): for each tap
 * whose depth and row line up, it gathers along the row. */
__kernel void col2im(__global const float *col, __global float *dx, uint dx_off, int rows,
                     int channels, int4 in, int4 out, int4 k, int4 stride, int4 pad, int4 dil,
                     int accumulate) {
    int i = get_global_id(0);
    if (i >= rows) return;
    int ih = i % in.y, id = (i / in.y) % in.x, plane = i / (in.y * in.x);
    int c = plane % channels, n = plane / channels;
    int batch = rows / (channels * in.x * in.y);
    int ovol = out.x * out.y * out.z, kvol = k.x * k.y * k.z;
    long row_len = (long)batch * ovol;
    __global float *dst = dx + dx_off + (long)i * in.z;
    for (int iw = 0; iw < in.z; iw++) {
        float sum = 0.0f;
        for (int kd = 0; kd < k.x; kd++) {
            int od = tap_source(id, kd, stride.x, pad.x, dil.x, out.x);
            if (od < 0) continue;
            for (int kh = 0; kh < k.y; kh++) {
                int oh = tap_source(ih, kh, stride.y, pad.y, dil.y, out.y);
                if (oh < 0) continue;
                __global const float *base = col + (long)n * ovol + (od * out.y + oh) * out.z;
                int row0 = c * kvol + (kd * k.y + kh) * k.z;
                for (int kw = 0; kw < k.z; kw++) {
                    int ow = tap_source(iw, kw, stride.z, pad.z, dil.z, out.z);
                    if (ow >= 0) sum += base[(row0 + kw) * row_len + ow];
                }
            }
        }
        dst[iw] = accumulate ? dst[iw] + sum : sum;
    }
}

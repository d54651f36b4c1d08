/* Convolution by im2col + GEMM over a chunk of images: im2col unrolls every
 * image's receptive fields into one matrix, col2im folds column gradients
 * back onto the images. Spatial vectors are (d, h, w) so one kernel serves
 * 1D, 2D and 3D. Column matrix: row = channel * K + kernel offset, column =
 * image * L + output position (L output positions per image). col2im
 * gathers instead of scattering, so no atomics are needed. The direct
 * kernels at the end compute each result on its own, with no scratch. */

/* One work-item per (column row, image, output depth, output row): it
 * writes out.z consecutive columns, so the index arithmetic is paid once
 * per row instead of once per element. */
__kernel void im2col(__global const float *x, uint x_off, __global float *col, int rows, int batch,
                     int4 in, int4 out, int4 k, int4 stride, int4 pad, int4 dil) {
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

/* The unfolded input (value (r, p) of column row r = (channel, tap) and
 * output position p = (image, position)) in any of the layouts the GEMMs
 * read, each a sum of strides: row r of group r / kg at
 * (r % kg / col_panel) * col_jump + (r % kg % col_panel) * col_step, plus
 * (p / panel) * pos_jump + (p % panel) * pos_step, groups group_floats
 * apart. This covers rows [positions x C*K], and both packed B layouts of
 * the packed GEMM (gemm.cl): [kg x positions] in panels of positions (the
 * forward product) and [positions x kg] in panels of columns (the weight
 * gradient's); packed panels' lanes past the end stay unwritten (the
 * product never stores them). One work-item per (`panels` blocks of
 * `panel` positions, row), rows fastest: the setup's divisions are paid
 * once per work-item, and the position advances by counting, a run along
 * one output row within one block at a time (a loop the compiler
 * vectorises when pos_step is 1). */
__kernel void unfold(__global const float *x, uint x_off, __global float *dst, int total,
                     int channels, int4 in, int4 out, int4 k, int4 stride, int4 pad, int4 dil,
                     int kg, long group_floats, int col_panel, long col_jump, int col_step,
                     int panel, long pos_jump, int pos_step, int panels) {
    int kvol = k.x * k.y * k.z, row = channels * kvol;
    int i = get_global_id(0), r = i % row, first = i / row * panels * panel;
    if (first >= total) return;
    int kw = r % k.z, kh = (r / k.z) % k.y, kd = (r / (k.z * k.y)) % k.x, c = r / kvol;
    int rg = r % kg;
    __global float *to = dst + r / kg * group_floats + rg / col_panel * col_jump +
                         rg % col_panel * col_step + first / panel * pos_jump;
    int ovol = out.x * out.y * out.z, ivol = in.x * in.y * in.z;
    int o = first % ovol, n = first / ovol;
    int ow = o % out.z, oh = (o / out.z) % out.y, od = o / (out.z * out.y);
    __global const float *xc = x + x_off + ((long)n * channels + c) * ivol;
    long image = (long)channels * ivol;
    int dd = kd * dil.x - pad.x, dh = kh * dil.y - pad.y, dw = kw * dil.z - pad.z;
    int count = min(panels * panel, total - first);
    for (int t = 0, lane = 0; t < count;) {
        int id = od * stride.x + dd, ih = oh * stride.y + dh, iw = ow * stride.z + dw;
        bool row_in = id >= 0 && id < in.x && ih >= 0 && ih < in.y;
        __global const float *src = xc + (row_in ? (id * in.y + ih) * in.z : 0);
        int run = min(min(count - t, out.z - ow), panel - lane);
        for (int s = 0; s < run; s++, iw += stride.z)
            to[(long)(lane + s) * pos_step] = row_in && iw >= 0 && iw < in.z ? src[iw] : 0.0f;
        t += run;
        if ((lane += run) == panel) lane = 0, to += pos_jump;
        if ((ow += run) < out.z) continue;
        ow = 0;
        if (++oh == out.y) {
            oh = 0;
            if (++od == out.x) od = 0, xc += image;
        }
    }
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
 * whose depth and row line up, it adds that tap's column values along the
 * row, the outputs it reached (iw = ow * stride + kw * dil - pad) as one
 * run: no division per value, and a loop the compiler vectorises at
 * stride 1. */
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
    if (!accumulate)
        for (int iw = 0; iw < in.z; iw++)
            dst[iw] = 0.0f;
    for (int kd = 0; kd < k.x; kd++) {
        int od = tap_source(id, kd, stride.x, pad.x, dil.x, out.x);
        if (od < 0) continue;
        for (int kh = 0; kh < k.y; kh++) {
            int oh = tap_source(ih, kh, stride.y, pad.y, dil.y, out.y);
            if (oh < 0) continue;
            __global const float *base = col + (long)n * ovol + (od * out.y + oh) * out.z;
            int row0 = c * kvol + (kd * k.y + kh) * k.z;
            for (int kw = 0; kw < k.z; kw++) {
                __global const float *src = base + (row0 + kw) * row_len;
                int shift = kw * dil.z - pad.z; /* iw of ow = 0 */
                int ow0 = shift < 0 ? (stride.z - 1 - shift) / stride.z : 0;
                int ow1 = shift < in.z ? min(out.z, (in.z - 1 - shift) / stride.z + 1) : 0;
                if (stride.z == 1)
                    for (int ow = ow0; ow < ow1; ow++)
                        dst[ow + shift] += src[ow];
                else
                    for (int ow = ow0; ow < ow1; ow++)
                        dst[ow * stride.z + shift] += src[ow];
            }
        }
    }
}

/* Direct convolution, one work-item per result, for layers too small or
 * too grouped (depthwise) for GEMM to pay off. Weights are
 * [c_out, cg_in, kd, kh, kw]; groups split both channel ranges evenly. */
__kernel void direct_forward(__global const float *x, __global const float *w, __global float *y,
                             int total, int c_out, int groups, int cg_in, int4 in, int4 out, int4 k,
                             int4 stride, int4 pad, int4 dil) {
    int i = get_global_id(0);
    if (i >= total) return;
    int ovol = out.x * out.y * out.z, ivol = in.x * in.y * in.z, kvol = k.x * k.y * k.z;
    int o = i % ovol, kc = (i / ovol) % c_out, n = i / (ovol * c_out);
    int ow = o % out.z, oh = (o / out.z) % out.y, od = o / (out.z * out.y);
    int grp = kc / (c_out / groups);
    float sum = 0.0f;
    for (int c = 0; c < cg_in; c++) {
        __global const float *xc = x + ((long)n * cg_in * groups + grp * cg_in + c) * ivol;
        __global const float *wc = w + ((long)kc * cg_in + c) * kvol;
        for (int kd = 0; kd < k.x; kd++) {
            int id = od * stride.x - pad.x + kd * dil.x;
            if (id < 0 || id >= in.x) continue;
            for (int kh = 0; kh < k.y; kh++) {
                int ih = oh * stride.y - pad.y + kh * dil.y;
                if (ih < 0 || ih >= in.y) continue;
                for (int kw = 0; kw < k.z; kw++) {
                    int iw = ow * stride.z - pad.z + kw * dil.z;
                    if (iw >= 0 && iw < in.z)
                        sum += xc[(id * in.y + ih) * in.z + iw] * wc[(kd * k.y + kh) * k.z + kw];
                }
            }
        }
    }
    y[i] = sum;
}

/* One work-item per input element: gathers every (output channel, tap)
 * that read it. */
__kernel void direct_backward_data(__global const float *dy, __global const float *w,
                                   __global float *dx, int total, int c_out, int groups, int cg_in,
                                   int4 in, int4 out, int4 k, int4 stride, int4 pad, int4 dil,
                                   int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int ovol = out.x * out.y * out.z, ivol = in.x * in.y * in.z, kvol = k.x * k.y * k.z;
    int c_in = cg_in * groups, cg_out = c_out / groups;
    int v = i % ivol, c = (i / ivol) % c_in, n = i / (ivol * c_in);
    int iw = v % in.z, ih = (v / in.z) % in.y, id = v / (in.z * in.y);
    int grp = c / cg_in, cl = c % cg_in;
    float sum = 0.0f;
    for (int kc = grp * cg_out; kc < (grp + 1) * cg_out; kc++) {
        __global const float *dyc = dy + ((long)n * c_out + kc) * ovol;
        __global const float *wc = w + ((long)kc * cg_in + cl) * kvol;
        for (int kd = 0; kd < k.x; kd++) {
            int od = tap_source(id, kd, stride.x, pad.x, dil.x, out.x);
            if (od < 0) continue;
            for (int kh = 0; kh < k.y; kh++) {
                int oh = tap_source(ih, kh, stride.y, pad.y, dil.y, out.y);
                if (oh < 0) continue;
                for (int kw = 0; kw < k.z; kw++) {
                    int ow = tap_source(iw, kw, stride.z, pad.z, dil.z, out.z);
                    if (ow >= 0)
                        sum += dyc[(od * out.y + oh) * out.z + ow] * wc[(kd * k.y + kh) * k.z + kw];
                }
            }
        }
    }
    dx[i] = accumulate ? dx[i] + sum : sum;
}

/* One work-item per weight: sums dY * X over the batch and every output
 * position, and adds the sum into dw. */
__kernel void direct_backward_weights(__global const float *x, __global const float *dy,
                                      __global float *dw, int total, int batch, int c_out,
                                      int groups, int cg_in, int4 in, int4 out, int4 k, int4 stride,
                                      int4 pad, int4 dil) {
    int i = get_global_id(0);
    if (i >= total) return;
    int ovol = out.x * out.y * out.z, ivol = in.x * in.y * in.z, kvol = k.x * k.y * k.z;
    int t = i % kvol, c = (i / kvol) % cg_in, kc = i / (kvol * cg_in);
    int kw = t % k.z, kh = (t / k.z) % k.y, kd = t / (k.z * k.y);
    int grp = kc / (c_out / groups), c_in = cg_in * groups;
    float sum = 0.0f;
    for (int n = 0; n < batch; n++) {
        __global const float *dyc = dy + ((long)n * c_out + kc) * ovol;
        __global const float *xc = x + ((long)n * c_in + grp * cg_in + c) * ivol;
        for (int od = 0; od < out.x; od++) {
            int id = od * stride.x - pad.x + kd * dil.x;
            if (id < 0 || id >= in.x) continue;
            for (int oh = 0; oh < out.y; oh++) {
                int ih = oh * stride.y - pad.y + kh * dil.y;
                if (ih < 0 || ih >= in.y) continue;
                for (int ow = 0; ow < out.z; ow++) {
                    int iw = ow * stride.z - pad.z + kw * dil.z;
                    if (iw >= 0 && iw < in.z)
                        sum +=
                            dyc[(od * out.y + oh) * out.z + ow] * xc[(id * in.y + ih) * in.z + iw];
                }
            }
        }
    }
    dw[i] += sum;
}

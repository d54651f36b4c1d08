/* Upsampling (PyTorch's interpolate / Upsample): nearest, and linear in
 * every spatial dim (linear, bilinear, trilinear). Spatial vectors are
 * (d, h, w) with unused dims of size 1, so one kernel serves 1D, 2D and 3D.
 * Source coordinates follow PyTorch's float arithmetic (UpSample.h):
 * nearest takes floor(o * scale); linear takes o * scale with align_corners,
 * else (o + 0.5) * scale - 0.5 clamped at 0. Backward gathers: the outputs
 * reading an input element form a contiguous range per dim (the source
 * index never decreases with o), found by binary search, so no atomics are
 * needed and the sums are in a fixed order. */

/* Source index and weight of output o along one dim: i0 with weight 1 - l,
 * i1 with weight l (nearest: l = 0). */
void source_of(int o, int in, int out, float scale, int linear, int align, int *i0, int *i1,
               float *l) {
    if (!linear) {
        int s = in == out ? o : out == 2 * in ? o >> 1 : (int)floor((float)o * scale);
        *i0 = *i1 = min(s, in - 1);
        *l = 0.0f;
        return;
    }
    float src = align ? (float)o * scale : fmax(((float)o + 0.5f) * scale - 0.5f, 0.0f);
    int f = min((int)src, in - 1);
    *i0 = f;
    *i1 = f < in - 1 ? f + 1 : f;
    *l = src - (float)f;
}

/* Weight of input i in output o along one dim. */
float weight_of(int i, int o, int in, int out, float scale, int linear, int align) {
    int i0, i1;
    float l;
    source_of(o, in, out, scale, linear, align, &i0, &i1, &l);
    return (i0 == i ? 1.0f - l : 0.0f) + (i1 == i ? l : 0.0f);
}

/* The first output whose i0 is >= target (out when none). */
int first_output_from(int target, int in, int out, float scale, int linear, int align) {
    int lo = 0, hi = out;
    while (lo < hi) {
        int mid = (lo + hi) / 2, i0, i1;
        float l;
        source_of(mid, in, out, scale, linear, align, &i0, &i1, &l);
        if (i0 >= target)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

__kernel void upsample_forward(__global const float *x, __global float *y, int total, int4 in,
                               int4 out, float4 scale, int linear, int align) {
    int i = get_global_id(0);
    if (i >= total) return;
    int ow = i % out.z, oh = (i / out.z) % out.y, od = (i / (out.z * out.y)) % out.x;
    long plane = i / (out.x * out.y * out.z);
    int d0, d1, h0, h1, w0, w1;
    float ld, lh, lw;
    source_of(od, in.x, out.x, scale.x, linear, align, &d0, &d1, &ld);
    source_of(oh, in.y, out.y, scale.y, linear, align, &h0, &h1, &lh);
    source_of(ow, in.z, out.z, scale.z, linear, align, &w0, &w1, &lw);
    __global const float *p = x + plane * in.x * in.y * in.z;
#define AT(d, h, w) p[((d) * in.y + (h)) * in.z + (w)]
    float lo = (1.0f - lh) * ((1.0f - lw) * AT(d0, h0, w0) + lw * AT(d0, h0, w1)) +
               lh * ((1.0f - lw) * AT(d0, h1, w0) + lw * AT(d0, h1, w1));
    float hi = (1.0f - lh) * ((1.0f - lw) * AT(d1, h0, w0) + lw * AT(d1, h0, w1)) +
               lh * ((1.0f - lw) * AT(d1, h1, w0) + lw * AT(d1, h1, w1));
#undef AT
    y[i] = (1.0f - ld) * lo + ld * hi;
}

__kernel void upsample_backward(__global const float *dy, __global float *dx, int total, int4 in,
                                int4 out, float4 scale, int linear, int align, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int iw = i % in.z, ih = (i / in.z) % in.y, id = (i / (in.z * in.y)) % in.x;
    long plane = i / (in.x * in.y * in.z);
    /* Outputs whose i0 is i - 1 or i: the only ones reading i. */
    int d_lo = first_output_from(id - 1, in.x, out.x, scale.x, linear, align);
    int d_hi = first_output_from(id + 1, in.x, out.x, scale.x, linear, align);
    int h_lo = first_output_from(ih - 1, in.y, out.y, scale.y, linear, align);
    int h_hi = first_output_from(ih + 1, in.y, out.y, scale.y, linear, align);
    int w_lo = first_output_from(iw - 1, in.z, out.z, scale.z, linear, align);
    int w_hi = first_output_from(iw + 1, in.z, out.z, scale.z, linear, align);
    __global const float *p = dy + plane * out.x * out.y * out.z;
    float sum = 0.0f;
    for (int od = d_lo; od < d_hi; od++) {
        float wd = weight_of(id, od, in.x, out.x, scale.x, linear, align);
        if (wd == 0.0f) continue;
        for (int oh = h_lo; oh < h_hi; oh++) {
            float wh = weight_of(ih, oh, in.y, out.y, scale.y, linear, align);
            if (wh == 0.0f) continue;
            float row = 0.0f;
            for (int ow = w_lo; ow < w_hi; ow++)
                row += weight_of(iw, ow, in.z, out.z, scale.z, linear, align) *
                       p[(od * out.y + oh) * out.z + ow];
            sum += wd * wh * row;
        }
    }
    dx[i] = accumulate ? dx[i] + sum : sum;
}

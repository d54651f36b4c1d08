/* Preparing one sample for the network: 8-bit values to [0, 1] (float
 * samples as they are), then the random augmentations (a mirror of the
 * last dim, a shift of every spatial dim after zero padding, a small
 * rotation of 2D images with bilinear sampling), normalisation (one mean
 * and std, or one per channel) and Gaussian noise. All randomness comes
 * from one per-sample seed, so results do not depend on threads. */
#include "data.h"

#include <math.h>

/* The sample's raw value (a byte, or a float) in the channel plane at base,
 * position (d, y, x); zero outside. */
static float value_at(const nncl_dataset *ds, int64_t base, int64_t d, int64_t y, int64_t x) {
    const int64_t *n = ds->dims;
    if (d < 0 || d >= n[0] || y < 0 || y >= n[1] || x < 0 || x >= n[2]) return 0.0f;
    int64_t i = base + (d * n[1] + y) * n[2] + x;
    return ds->images ? (float)ds->images[i] : ds->samples[i];
}

/* Bilinear sample of a 2D plane at (y, x); zero outside. */
static float bilinear(const nncl_dataset *ds, int64_t base, double y, double x) {
    int64_t y0 = (int64_t)floor(y), x0 = (int64_t)floor(x);
    double fy = y - (double)y0, fx = x - (double)x0, v = 0.0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++)
            v += (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx) * value_at(ds, base, 0, y0 + dy, x0 + dx);
    return (float)v;
}

void nncl_prepare_sample(const nncl_dataset *ds, int64_t index, const nncl_loader_options *o,
                         uint64_t rng, float *dst, int32_t *labels) {
    const int64_t *n = ds->dims;
    int64_t volume = n[0] * n[1] * n[2];
    bool flip = o->hflip && (nncl_splitmix64(&rng) & 1);
    int64_t shift[3] = {0, 0, 0}; /* d, y, x */
    if (o->shift > 0) {
        uint64_t span = (uint64_t)(2 * o->shift + 1);
        for (int i = 3 - ds->spatial; i < 3; i++)
            shift[i] = (int64_t)(nncl_splitmix64(&rng) % span) - o->shift;
    }
    double angle = 0.0;
    if (o->rotate_degrees > 0) { /* 2D only: the loader refuses it elsewhere */
        double u = (double)(nncl_splitmix64(&rng) >> 11) / 9007199254740992.0;
        angle = (2 * u - 1) * o->rotate_degrees * 3.14159265358979323846 / 180.0;
    }
    double c = cos(angle), s = sin(angle), cy = (double)(n[1] - 1) / 2, cx = (double)(n[2] - 1) / 2;
    for (int64_t ch = 0; ch < ds->channels; ch++) {
        int64_t base = (index * ds->channels + ch) * volume;
        float mean = o->channel_mean ? o->channel_mean[ch] : o->mean;
        float std = o->channel_std ? o->channel_std[ch] : o->std != 0 ? o->std : 1.0f;
        for (int64_t d = 0; d < n[0]; d++)
            for (int64_t y = 0; y < n[1]; y++)
                for (int64_t x = 0; x < n[2]; x++) {
                    /* Output position -> source: mirror, shift, then rotate about the centre. */
                    int64_t xs = (flip ? n[2] - 1 - x : x) + shift[2];
                    int64_t ys = y + shift[1], zs = d + shift[0];
                    float v;
                    if (angle != 0.0)
                        v = bilinear(ds, base, cy + c * ((double)ys - cy) - s * ((double)xs - cx),
                                     cx + s * ((double)ys - cy) + c * ((double)xs - cx));
                    else
                        v = value_at(ds, base, zs, ys, xs);
                    if (ds->images) v /= 255.0f;
                    float out = (v - mean) / std;
                    if (o->noise_std > 0) out += (float)(o->noise_std * nncl_normal(&rng));
                    dst[(ch * n[0] + d) * n[1] * n[2] + y * n[2] + x] = out;
                    if (ch || !ds->label_maps) continue;
                    bool inside =
                        zs >= 0 && zs < n[0] && ys >= 0 && ys < n[1] && xs >= 0 && xs < n[2];
                    labels[(d * n[1] + y) * n[2] + x] =
                        inside ? ds->labels[index * volume + (zs * n[1] + ys) * n[2] + xs]
                               : NNCL_LABEL_OUTSIDE;
                }
    }
    if (!ds->label_maps) labels[0] = ds->labels[index];
}

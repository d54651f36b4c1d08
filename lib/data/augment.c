/* Preparing one image for the network: bytes to [0, 1], then the random
 * augmentations (mirror, shift after zero padding, small rotation with
 * bilinear sampling), normalisation and Gaussian noise. All randomness
 * comes from one per-image seed, so results do not depend on threads. */
#include "data.h"

#include <math.h>

/* Bilinear sample of plane p (h x w) at (y, x); zero outside. */
static float sample(const uint8_t *p, int64_t h, int64_t w, double y, double x) {
    int64_t y0 = (int64_t)floor(y), x0 = (int64_t)floor(x);
    double fy = y - (double)y0, fx = x - (double)x0, v = 0.0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int64_t yy = y0 + dy, xx = x0 + dx;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            v += (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx) * p[yy * w + xx];
        }
    return (float)v;
}

void nncl_prepare_image(const nncl_dataset *ds, const uint8_t *src, const nncl_loader_options *o,
                        uint64_t rng, float *dst) {
    int64_t h = ds->height, w = ds->width, plane = h * w;
    bool flip = o->hflip && (nncl_splitmix64(&rng) & 1);
    int64_t sy = 0, sx = 0;
    if (o->shift > 0) {
        uint64_t span = (uint64_t)(2 * o->shift + 1);
        sy = (int64_t)(nncl_splitmix64(&rng) % span) - o->shift;
        sx = (int64_t)(nncl_splitmix64(&rng) % span) - o->shift;
    }
    double angle = 0.0;
    if (o->rotate_degrees > 0) {
        double u = (double)(nncl_splitmix64(&rng) >> 11) / 9007199254740992.0;
        angle = (2 * u - 1) * o->rotate_degrees * 3.14159265358979323846 / 180.0;
    }
    double c = cos(angle), s = sin(angle), cy = (double)(h - 1) / 2, cx = (double)(w - 1) / 2;
    float std = o->std != 0 ? o->std : 1.0f;
    for (int64_t ch = 0; ch < ds->channels; ch++) {
        const uint8_t *p = src + ch * plane;
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                /* Output pixel -> source: mirror, shift, then rotate about the centre. */
                double xf = (double)(flip ? w - 1 - x : x) + (double)sx, yf = (double)(y + sy);
                float v;
                if (angle != 0.0) {
                    double ry = cy + c * (yf - cy) - s * (xf - cx);
                    double rx = cx + s * (yf - cy) + c * (xf - cx);
                    v = sample(p, h, w, ry, rx);
                } else {
                    int64_t yy = (int64_t)yf, xx = (int64_t)xf;
                    v = yy >= 0 && yy < h && xx >= 0 && xx < w ? p[yy * w + xx] : 0.0f;
                }
                float out = (v / 255.0f - o->mean) / std;
                if (o->noise_std > 0) out += (float)(o->noise_std * nncl_normal(&rng));
                dst[ch * plane + y * w + x] = out;
            }
    }
}

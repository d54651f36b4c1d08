/* Host-side random numbers for weight initialisation: splitmix64 (Steele,
 * Lea & Flood 2014) for uniform bits; normal samples by the ziggurat
 * method for arrays (a network's weights are drawn as it is built: a
 * table lookup and a multiply for 99% of samples) and Marsaglia's polar
 * method (Marsaglia & Bray 1964) for single ones. Small, fast and the
 * same on every platform, so a seed means one network. */
#include "runtime.h"

#include <math.h>

uint64_t nncl_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform_open(uint64_t *state) {
    /* 53 random bits, shifted off zero so log() is finite. */
    return ((double)(nncl_splitmix64(state) >> 11) + 0.5) / 9007199254740992.0;
}

/* A point uniform in the unit disc (not its centre), and the factor that
 * turns both its coordinates into independent standard normal samples. */
static double polar_pair(uint64_t *state, double *u, double *v) {
    double s;
    do {
        *u = 2 * uniform_open(state) - 1;
        *v = 2 * uniform_open(state) - 1;
        s = *u * *u + *v * *v;
    } while (s >= 1 || s == 0);
    return sqrt(-2.0 * log(s) / s);
}

double nncl_normal(uint64_t *state) {
    double u, v, f = polar_pair(state, &u, &v);
    return u * f;
}

/* The ziggurat for the standard normal (Marsaglia & Tsang 2000): 128
 * layers of equal area under exp(-x^2 / 2), the base layer ending in the
 * tail beyond R. A sample draws a layer and a signed 31-bit magnitude; in
 * layer i it is accepted at once when below k[i] (inside the rectangle
 * that lies wholly under the curve), scaled by w[i]; f[i] is the density
 * at the layer's outer edge. */
#define ZIGGURAT_R 3.442619855899
#define ZIGGURAT_AREA 9.91256303526217e-3

typedef struct ziggurat {
    uint32_t k[128];
    double w[128], f[128];
} ziggurat;

static void ziggurat_tables(ziggurat *z) {
    const double m = 2147483648.0; /* 2^31 */
    double d = ZIGGURAT_R, t = d, q = ZIGGURAT_AREA / exp(-0.5 * d * d);
    z->k[0] = (uint32_t)(d / q * m);
    z->k[1] = 0;
    z->w[0] = q / m;
    z->w[127] = d / m;
    z->f[0] = 1.0;
    z->f[127] = exp(-0.5 * d * d);
    for (int i = 126; i >= 1; i--) {
        d = sqrt(-2.0 * log(ZIGGURAT_AREA / d + exp(-0.5 * d * d)));
        z->k[i + 1] = (uint32_t)(d / t * m);
        t = d;
        z->f[i] = exp(-0.5 * d * d);
        z->w[i] = d / m;
    }
}

/* The layer comes from the high bits, the magnitude from the low ones: the
 * original's layer taken from the magnitude's own low bits correlates them
 * (Doornik 2005). */
static double ziggurat_normal(const ziggurat *z, uint64_t *state) {
    for (;;) {
        uint64_t bits = nncl_splitmix64(state);
        int32_t h = (int32_t)(uint32_t)bits;
        int i = (int)(bits >> 57);
        uint32_t magnitude = h < 0 ? (uint32_t)(-(int64_t)h) : (uint32_t)h;
        double x = h * z->w[i];
        if (magnitude < z->k[i]) return x;
        if (i == 0) { /* the tail beyond R (Marsaglia 1964) */
            double a, b;
            do {
                a = -log(uniform_open(state)) / ZIGGURAT_R;
                b = -log(uniform_open(state));
            } while (b + b < a * a);
            return h > 0 ? ZIGGURAT_R + a : -ZIGGURAT_R - a;
        }
        if (z->f[i] + uniform_open(state) * (z->f[i - 1] - z->f[i]) < exp(-0.5 * x * x)) return x;
    }
}

void nncl_normal_fill(uint64_t *state, float *out, size_t n, double std) {
    ziggurat z;
    ziggurat_tables(&z);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(std * ziggurat_normal(&z, state));
}

void nncl_uniform_fill(uint64_t *state, float *out, size_t n, double bound) {
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(bound * (2 * uniform_open(state) - 1));
}

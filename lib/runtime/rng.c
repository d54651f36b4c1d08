/* Host-side random numbers for weight initialisation: splitmix64 (Steele,
 * Lea & Flood 2014) for uniform bits and Marsaglia's polar method
 * (Marsaglia & Bray 1964) for normal samples: no trigonometry and one
 * logarithm per pair, about half of Box-Muller's time (a network's weights
 * are drawn as it is built). Small, fast and the same on every platform,
 * so a seed means one network. */
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

/* Both samples of each pair are used. */
void nncl_normal_fill(uint64_t *state, float *out, size_t n, double std) {
    for (size_t i = 0; i < n; i += 2) {
        double u, v, f = std * polar_pair(state, &u, &v);
        out[i] = (float)(u * f);
        if (i + 1 < n) out[i + 1] = (float)(v * f);
    }
}

void nncl_uniform_fill(uint64_t *state, float *out, size_t n, double bound) {
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(bound * (2 * uniform_open(state) - 1));
}

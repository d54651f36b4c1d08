/* Host-side random numbers for weight initialisation: splitmix64 (Steele,
 * Lea & Flood 2014) for uniform bits and Box-Muller for normal samples.
 * Small, fast and the same on every platform, so a seed means one network. */
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

double nncl_normal(uint64_t *state) {
    double u1 = uniform_open(state), u2 = uniform_open(state);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Both Box-Muller outputs of each pair of uniforms are used: a layer's
 * weights take half the logarithms and draws of one sample at a time. */
void nncl_normal_fill(uint64_t *state, float *out, size_t n, double std) {
    for (size_t i = 0; i < n; i += 2) {
        double r = std * sqrt(-2.0 * log(uniform_open(state)));
        double angle = 6.283185307179586 * uniform_open(state);
        out[i] = (float)(r * cos(angle));
        if (i + 1 < n) out[i + 1] = (float)(r * sin(angle));
    }
}

void nncl_uniform_fill(uint64_t *state, float *out, size_t n, double bound) {
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(bound * (2 * uniform_open(state) - 1));
}

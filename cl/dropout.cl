/* Dropout masks from a counter-based hash of (key, element): nothing is
 * stored between forward and backward, and the same key gives the same
 * mask on every device. The hash is the "lowbias32" integer mixer
 * (Wellons, 2018), chained over the key words. */

uint mix32(uint x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* 1 when element i is kept. */
int keep(uint key0, uint key1, uint i, uint threshold) {
    uint h = mix32(i ^ mix32(key1 ^ mix32(key0)));
    return h >= threshold;
}

__kernel void dropout_forward(__global const float *x, __global float *y, int total, uint key0,
                              uint key1, uint threshold, float scale) {
    int i = get_global_id(0);
    if (i >= total) return;
    y[i] = keep(key0, key1, (uint)i, threshold) ? x[i] * scale : 0.0f;
}

__kernel void dropout_backward(__global const float *dy, __global float *dx, int total, uint key0,
                               uint key1, uint threshold, float scale, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    float g = keep(key0, key1, (uint)i, threshold) ? dy[i] * scale : 0.0f;
    dx[i] = accumulate ? dx[i] + g : g;
}

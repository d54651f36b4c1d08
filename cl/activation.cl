/* Elementwise activations and their derivatives. kind: 0 relu, 1 leaky
 * relu (alpha = slope), 2 sigmoid, 3 tanh, 4 elu (alpha). Backward takes
 * the piecewise ones' branch from x, which may be the output wherever its
 * sign is the input's, and sigmoid and tanh from the output. */

__kernel void activation_forward(__global const float *x, __global float *y, int total, int kind,
                                 float alpha) {
    int i = get_global_id(0);
    if (i >= total) return;
    float v = x[i], r;
    switch (kind) {
    case 0: r = v > 0.0f ? v : 0.0f; break;
    case 1: r = v > 0.0f ? v : alpha * v; break;
    case 2: r = 1.0f / (1.0f + exp(-v)); break;
    case 3: r = tanh(v); break;
    default: r = v > 0.0f ? v : alpha * (exp(v) - 1.0f); break;
    }
    y[i] = r;
}

__kernel void activation_backward(__global const float *x, __global const float *y,
                                  __global const float *dy, __global float *dx, int total,
                                  int kind, float alpha, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    float v = x[i], out = y[i], d;
    switch (kind) {
    case 0: d = v > 0.0f ? 1.0f : 0.0f; break;
    case 1: d = v > 0.0f ? 1.0f : alpha; break;
    case 2: d = out * (1.0f - out); break;
    case 3: d = 1.0f - out * out; break;
    default: d = v > 0.0f ? 1.0f : out + alpha; break;
    }
    float g = dy[i] * d;
    dx[i] = accumulate ? dx[i] + g : g;
}

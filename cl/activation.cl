/* Elementwise activations and their derivatives. kind: the op's kind,
 * NNCL_OP_RELU, _LEAKY_RELU (alpha = slope), _SIGMOID, _TANH or _ELU
 * (alpha), defined by the host at build time. Backward takes
 * the piecewise ones' branch from x, which may be the output wherever its
 * sign is the input's, and sigmoid and tanh from the output. */

float activate(float v, int kind, float alpha) {
    switch (kind) {
    case NNCL_OP_RELU:
        return v > 0.0f ? v : 0.0f;
    case NNCL_OP_LEAKY_RELU:
        return v > 0.0f ? v : alpha * v;
    case NNCL_OP_SIGMOID:
        return 1.0f / (1.0f + exp(-v));
    case NNCL_OP_TANH:
        return tanh(v);
    default:
        return v > 0.0f ? v : alpha * (exp(v) - 1.0f);
    }
}

__kernel void activation_forward(__global const float *x, __global float *y, int total, int kind,
                                 float alpha) {
    int i = get_global_id(0);
    if (i >= total) return;
    y[i] = activate(x[i], kind, alpha);
}

/* A layer's bias and the activation after it in one pass: y = act(x + b)
 * over rows of `inner` values, one (sample, channel) row per work-item. */
__kernel void bias_activation(__global const float *x, __global const float *bias,
                              __global float *y, int channels, int inner, int rows, int kind,
                              float alpha) {
    int r = get_global_id(0);
    if (r >= rows) return;
    float b = bias[r % channels];
    __global const float *xr = x + (long)r * inner;
    __global float *yr = y + (long)r * inner;
    for (int j = 0; j < inner; j++)
        yr[j] = activate(xr[j] + b, kind, alpha);
}

__kernel void activation_backward(__global const float *x, __global const float *y,
                                  __global const float *dy, __global float *dx, int total, int kind,
                                  float alpha, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    float v = x[i], out = y[i], d;
    switch (kind) {
    case NNCL_OP_RELU:
        d = v > 0.0f ? 1.0f : 0.0f;
        break;
    case NNCL_OP_LEAKY_RELU:
        d = v > 0.0f ? 1.0f : alpha;
        break;
    case NNCL_OP_SIGMOID:
        d = out * (1.0f - out);
        break;
    case NNCL_OP_TANH:
        d = 1.0f - out * out;
        break;
    default:
        d = v > 0.0f ? 1.0f : out + alpha;
        break;
    }
    float g = dy[i] * d;
    dx[i] = accumulate ? dx[i] + g : g;
}

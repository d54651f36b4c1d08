/* Elementwise activations and their derivatives. kind: the op's kind,
 * NNCL_OP_<KIND>, defined by the host at build time; alpha and beta are
 * the op's constants (leaky ReLU's slope, ELU's alpha, softplus's beta and
 * threshold, SELU's alpha and scale, clamp's bounds). Backward takes the
 * piecewise ones' branch from x, which may be the output wherever its sign
 * is the input's, sigmoid, tanh, exp, sqrt and reciprocal from the output,
 * and the others (GELU, SiLU, softplus, hard-swish, SELU, clamp, abs, log,
 * erf) from the input. */

#define GELU_TANH_K 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_TANH_C 0.044715f

float activate(float v, int kind, float alpha, float beta) {
    switch (kind) {
    case NNCL_OP_RELU:
        return v > 0.0f ? v : 0.0f;
    case NNCL_OP_LEAKY_RELU:
        return v > 0.0f ? v : alpha * v;
    case NNCL_OP_SIGMOID:
        return 1.0f / (1.0f + exp(-v));
    case NNCL_OP_TANH:
        return tanh(v);
    case NNCL_OP_GELU: /* x * Phi(x) (Hendrycks & Gimpel 2016) */
        return 0.5f * v * (1.0f + erf(v * 0.7071067811865476f));
    case NNCL_OP_GELU_TANH:
        return 0.5f * v * (1.0f + tanh(GELU_TANH_K * (v + GELU_TANH_C * v * v * v)));
    case NNCL_OP_SILU:
        return v / (1.0f + exp(-v));
    case NNCL_OP_SOFTPLUS: /* alpha = beta, beta = threshold, as PyTorch */
        return alpha * v > beta ? v : log1p(exp(alpha * v)) / alpha;
    case NNCL_OP_RELU6:
        return clamp(v, 0.0f, 6.0f);
    case NNCL_OP_HARDSIGMOID:
        return clamp(v / 6.0f + 0.5f, 0.0f, 1.0f);
    case NNCL_OP_HARDSWISH:
        return v * clamp(v / 6.0f + 0.5f, 0.0f, 1.0f);
    case NNCL_OP_SELU: /* alpha = alpha, beta = scale (Klambauer et al. 2017) */
        return beta * (v > 0.0f ? v : alpha * (exp(v) - 1.0f));
    case NNCL_OP_CLAMP: /* alpha = min, beta = max; min(max(v, lo), hi) as torch.clamp */
        return fmin(fmax(v, alpha), beta);
    case NNCL_OP_ABS:
        return fabs(v);
    case NNCL_OP_NEG:
        return -v;
    case NNCL_OP_EXP:
        return exp(v);
    case NNCL_OP_LOG:
        return log(v);
    case NNCL_OP_SQRT:
        return sqrt(v);
    case NNCL_OP_RECIPROCAL:
        return 1.0f / v;
    case NNCL_OP_ERF:
        return erf(v);
    default: /* ELU */
        return v > 0.0f ? v : alpha * (exp(v) - 1.0f);
    }
}

/* d activation / d x at input (or same-sign output) v with output out. */
float activation_slope(float v, float out, int kind, float alpha, float beta) {
    switch (kind) {
    case NNCL_OP_RELU:
        return v > 0.0f ? 1.0f : 0.0f;
    case NNCL_OP_LEAKY_RELU:
        return v > 0.0f ? 1.0f : alpha;
    case NNCL_OP_SIGMOID:
        return out * (1.0f - out);
    case NNCL_OP_TANH:
        return 1.0f - out * out;
    case NNCL_OP_GELU:
        return 0.5f * (1.0f + erf(v * 0.7071067811865476f)) +
               v * 0.3989422804014327f * exp(-0.5f * v * v);
    case NNCL_OP_GELU_TANH: {
        float t = tanh(GELU_TANH_K * (v + GELU_TANH_C * v * v * v));
        return 0.5f * (1.0f + t) +
               0.5f * v * (1.0f - t * t) * GELU_TANH_K * (1.0f + 3.0f * GELU_TANH_C * v * v);
    }
    case NNCL_OP_SILU: {
        float s = 1.0f / (1.0f + exp(-v));
        return s * (1.0f + v * (1.0f - s));
    }
    case NNCL_OP_SOFTPLUS:
        return alpha * v > beta ? 1.0f : 1.0f / (1.0f + exp(-alpha * v));
    case NNCL_OP_RELU6: /* v is the output: inside (0, 6) exactly where the input is */
        return v > 0.0f && v < 6.0f ? 1.0f : 0.0f;
    case NNCL_OP_HARDSIGMOID: /* v is the output */
        return v > 0.0f && v < 1.0f ? 1.0f / 6.0f : 0.0f;
    case NNCL_OP_HARDSWISH:
        return v <= -3.0f ? 0.0f : v < 3.0f ? v / 3.0f + 0.5f : 1.0f;
    case NNCL_OP_SELU:
        return v > 0.0f ? beta : beta * alpha * exp(v);
    case NNCL_OP_CLAMP: /* torch.clamp passes the gradient where lo <= v <= hi */
        return v >= alpha && v <= beta ? 1.0f : 0.0f;
    case NNCL_OP_ABS:
        return v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : 0.0f;
    case NNCL_OP_NEG:
        return -1.0f;
    case NNCL_OP_EXP: /* from the output */
        return out;
    case NNCL_OP_LOG:
        return 1.0f / v;
    case NNCL_OP_SQRT: /* from the output */
        return 0.5f / out;
    case NNCL_OP_RECIPROCAL: /* from the output */
        return -out * out;
    case NNCL_OP_ERF:
        return 1.1283791670955126f * exp(-v * v); /* 2 / sqrt(pi) */
    default: /* ELU */
        return v > 0.0f ? 1.0f : out + alpha;
    }
}

__kernel void activation_forward(__global const float *x, __global float *y, int total, int kind,
                                 float alpha, float beta) {
    int i = get_global_id(0);
    if (i >= total) return;
    y[i] = activate(x[i], kind, alpha, beta);
}

/* A layer's bias and the activation after it in one pass: y = act(x + b)
 * over rows of `inner` values, one (sample, channel) row per work-item.
 * With store_sum, x + b also goes back into x, for activations whose
 * backward reads their input. */
__kernel void bias_activation(__global float *x, __global const float *bias, __global float *y,
                              int channels, int inner, int rows, int kind, float alpha, float beta,
                              int store_sum) {
    int r = get_global_id(0);
    if (r >= rows) return;
    float b = bias[r % channels];
    __global float *xr = x + (long)r * inner;
    __global float *yr = y + (long)r * inner;
    if (kind == NNCL_OP_RELU) { /* a loop of its own: see relu_forward */
        for (int j = 0; j < inner; j++)
            yr[j] = fmax(xr[j] + b, 0.0f);
        return;
    }
    for (int j = 0; j < inner; j++) {
        float v = xr[j] + b;
        if (store_sum) xr[j] = v;
        yr[j] = activate(v, kind, alpha, beta);
    }
}

/* ReLU on its own: the kernels above switch on the kind per value, which a
 * compiler vectorising across work-items may turn into computing every
 * kind's formula for every value. */
__kernel void relu_forward(__global const float *x, __global float *y, int total) {
    int i = get_global_id(0);
    if (i >= total) return;
    y[i] = fmax(x[i], 0.0f);
}

__kernel void relu_backward(__global const float *y, __global const float *dy, __global float *dx,
                            int total, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    float g = y[i] > 0.0f ? dy[i] : 0.0f;
    dx[i] = accumulate ? dx[i] + g : g;
}

__kernel void activation_backward(__global const float *x, __global const float *y,
                                  __global const float *dy, __global float *dx, int total, int kind,
                                  float alpha, float beta, int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    float g = dy[i] * activation_slope(x[i], y[i], kind, alpha, beta);
    dx[i] = accumulate ? dx[i] + g : g;
}

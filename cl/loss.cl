/* Loss functions with PyTorch's definitions. Class losses (cross-entropy,
 * NLL) work per sample and keep the probabilities for backward; pointwise
 * losses work per element and are reduced by the fixed-order sum in
 * tensor.cl. Gradients go to the first input only. */

/* Per sample n: loss_n and the weight it counts with (0 when ignored).
 * cross-entropy (is_ce): log p = x - logsumexp(x), probabilities kept;
 * nll: x already holds log p. */
__kernel void class_loss_forward(__global const float *x, __global const int *labels,
                                 __global const float *weights, int has_weights,
                                 __global float *probs, __global float *loss,
                                 __global float *counted, int batch, int classes, int is_ce,
                                 float smoothing, int ignore_index) {
    int n = get_global_id(0);
    if (n >= batch) return;
    __global const float *xn = x + (long)n * classes;
    int y = labels[n];
    float lse = 0.0f;
    if (is_ce) {
        float m = -INFINITY, s = 0.0f;
        for (int c = 0; c < classes; c++)
            m = fmax(m, xn[c]);
        for (int c = 0; c < classes; c++)
            s += exp(xn[c] - m);
        lse = m + log(s);
        for (int c = 0; c < classes; c++)
            probs[(long)n * classes + c] = exp(xn[c] - lse);
    }
    if (y == ignore_index) {
        loss[n] = 0.0f;
        counted[n] = 0.0f;
        return;
    }
    float wy = has_weights ? weights[y] : 1.0f;
    float value = -wy * (xn[y] - lse);
    if (smoothing > 0.0f) {
        float smooth = 0.0f;
        for (int c = 0; c < classes; c++)
            smooth -= (has_weights ? weights[c] : 1.0f) * (xn[c] - lse);
        value = (1.0f - smoothing) * value + smoothing / classes * smooth;
    }
    loss[n] = value;
    counted[n] = wy;
}

/* out = sum of losses, divided by the counted weight for mean; the divisor
 * is kept for backward. */
__kernel void class_loss_reduce(__global const float *loss, __global const float *counted,
                                __global float *out, __global float *divisor, int batch, int mean) {
    if (get_global_id(0) != 0) return;
    float s = 0.0f, w = 0.0f;
    for (int n = 0; n < batch; n++) {
        s += loss[n];
        w += counted[n];
    }
    divisor[0] = mean ? w : 1.0f;
    out[0] = s / divisor[0];
}

/* d loss_n / d x[n, c], times the upstream gradient of sample n. */
__kernel void class_loss_backward(__global const float *probs, __global const int *labels,
                                  __global const float *weights, int has_weights,
                                  __global const float *dloss, __global const float *divisor,
                                  __global float *dx, int batch, int classes, int is_ce,
                                  float smoothing, int ignore_index, int per_sample,
                                  int accumulate) {
    int i = get_global_id(0);
    if (i >= batch * classes) return;
    int n = i / classes, c = i % classes, y = labels[n];
    float g = 0.0f;
    if (y != ignore_index) {
        float up = per_sample ? dloss[n] : dloss[0] / divisor[0];
        float wy = has_weights ? weights[y] : 1.0f;
        if (is_ce) {
            float p = probs[i];
            g = (1.0f - smoothing) * wy * (p - (c == y ? 1.0f : 0.0f));
            if (smoothing > 0.0f) {
                float wsum = 0.0f;
                for (int k = 0; k < classes; k++)
                    wsum += has_weights ? weights[k] : 1.0f;
                g += smoothing / classes * (p * wsum - (has_weights ? weights[c] : 1.0f));
            }
        } else {
            g = c == y ? -wy : 0.0f;
        }
        g *= up;
    }
    dx[i] = accumulate ? dx[i] + g : g;
}

/* kind: the op's kind, NNCL_OP_BCE_WITH_LOGITS, _MSE_LOSS, _L1_LOSS,
 * _SMOOTH_L1_LOSS (beta), _HUBER_LOSS (delta) or _KL_DIV. */
float pointwise_value(int kind, float x, float t, float beta) {
    float d = x - t, a = fabs(d);
    switch (kind) {
    case NNCL_OP_BCE_WITH_LOGITS:
        return fmax(x, 0.0f) - x * t + log1p(exp(-fabs(x)));
    case NNCL_OP_MSE_LOSS:
        return d * d;
    case NNCL_OP_L1_LOSS:
        return a;
    case NNCL_OP_SMOOTH_L1_LOSS:
        return a < beta ? 0.5f * d * d / beta : a - 0.5f * beta;
    case NNCL_OP_HUBER_LOSS:
        return a <= beta ? 0.5f * d * d : beta * (a - 0.5f * beta);
    default:
        return t > 0.0f ? t * (log(t) - x) : 0.0f;
    }
}

float pointwise_grad(int kind, float x, float t, float beta) {
    float d = x - t, a = fabs(d), s = d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f;
    switch (kind) {
    case NNCL_OP_BCE_WITH_LOGITS:
        return 1.0f / (1.0f + exp(-x)) - t;
    case NNCL_OP_MSE_LOSS:
        return 2.0f * d;
    case NNCL_OP_L1_LOSS:
        return s;
    case NNCL_OP_SMOOTH_L1_LOSS:
        return a < beta ? d / beta : s;
    case NNCL_OP_HUBER_LOSS:
        return a <= beta ? d : beta * s;
    default:
        return -t;
    }
}

__kernel void pointwise_loss_forward(__global const float *x, __global const float *t,
                                     __global float *out, int n, int kind, float beta) {
    int i = get_global_id(0);
    if (i >= n) return;
    out[i] = pointwise_value(kind, x[i], t[i], beta);
}

__kernel void pointwise_loss_backward(__global const float *x, __global const float *t,
                                      __global const float *dloss, __global float *dx, int n,
                                      int kind, float beta, int per_element, float scale,
                                      int accumulate) {
    int i = get_global_id(0);
    if (i >= n) return;
    float up = per_element ? dloss[i] : dloss[0] * scale;
    float g = up * pointwise_grad(kind, x[i], t[i], beta);
    dx[i] = accumulate ? dx[i] + g : g;
}

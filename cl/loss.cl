/* Loss functions with PyTorch's definitions. Class losses (cross-entropy,
 * NLL) work per position (sample, or sample and pixel for dense labels)
 * and keep the probabilities for backward; pointwise
 * losses work per element and are reduced by the fixed-order sum in
 * tensor.cl. Gradients go to the first input only. */

/* Per position p = (sample n, spatial j) of x [batch, classes, inner]:
 * its loss and the weight it counts with (0 when ignored).
 * cross-entropy (is_ce): log p = x - logsumexp(x), probabilities kept;
 * nll: x already holds log p. */
__kernel void class_loss_forward(__global const float *x, __global const int *labels,
                                 __global const float *weights, int has_weights,
                                 __global float *probs, __global float *loss,
                                 __global float *counted, int positions, int classes, int inner,
                                 int is_ce, float smoothing, int ignore_index) {
    int p = get_global_id(0);
    if (p >= positions) return;
    long base = (long)(p / inner) * classes * inner + p % inner;
    __global const float *xn = x + base;
    int y = labels[p];
    float lse = 0.0f;
    if (is_ce) {
        float m = -INFINITY, s = 0.0f;
        for (int c = 0; c < classes; c++)
            m = fmax(m, xn[(long)c * inner]);
        for (int c = 0; c < classes; c++)
            s += exp(xn[(long)c * inner] - m);
        lse = m + log(s);
        for (int c = 0; c < classes; c++)
            probs[base + (long)c * inner] = exp(xn[(long)c * inner] - lse);
    }
    if (y == ignore_index) {
        loss[p] = 0.0f;
        counted[p] = 0.0f;
        return;
    }
    float wy = has_weights ? weights[y] : 1.0f;
    float value = -wy * (xn[(long)y * inner] - lse);
    if (smoothing > 0.0f) {
        float smooth = 0.0f;
        for (int c = 0; c < classes; c++)
            smooth -= (has_weights ? weights[c] : 1.0f) * (xn[(long)c * inner] - lse);
        value = (1.0f - smoothing) * value + smoothing / classes * smooth;
    }
    loss[p] = value;
    counted[p] = wy;
}

/* After the summed losses (out) and counted weights (divisor) are in:
 * the mean divides by the counted weight; sum keeps a divisor of 1. */
__kernel void class_loss_finish(__global float *out, __global float *divisor, int mean) {
    if (get_global_id(0) != 0) return;
    if (!mean) divisor[0] = 1.0f;
    out[0] /= divisor[0];
}

/* d loss_p / d x[n, c, j], times the upstream gradient of position p. */
__kernel void class_loss_backward(__global const float *probs, __global const int *labels,
                                  __global const float *weights, int has_weights,
                                  __global const float *dloss, __global const float *divisor,
                                  __global float *dx, int total, int classes, int inner, int is_ce,
                                  float smoothing, int ignore_index, int per_position,
                                  int accumulate) {
    int i = get_global_id(0);
    if (i >= total) return;
    int j = i % inner, c = (i / inner) % classes, n = i / (inner * classes);
    int p = n * inner + j, y = labels[p];
    float g = 0.0f;
    if (y != ignore_index) {
        float up = per_position ? dloss[p] : dloss[0] / divisor[0];
        float wy = has_weights ? weights[y] : 1.0f;
        if (is_ce) {
            float pr = probs[i];
            g = (1.0f - smoothing) * wy * (pr - (c == y ? 1.0f : 0.0f));
            if (smoothing > 0.0f) {
                float wsum = 0.0f;
                for (int k = 0; k < classes; k++)
                    wsum += has_weights ? weights[k] : 1.0f;
                g += smoothing / classes * (pr * wsum - (has_weights ? weights[c] : 1.0f));
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

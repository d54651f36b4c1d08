/* Parameter updates with torch.optim's rules, one work-item per element.
 * The gradient is first scaled (global-norm clipping, scale[0]) and given
 * the L2 (weight_decay * w, except AdamW) and L1 (l1 * sign(w)) terms.
 * kind: 0 SGD, 1 Adam, 2 AdamW, 3 AdaGrad, 4 RMSProp, 5 AdaDelta.
 * s0..s2 are the per-element state buffers the kind needs. */

__kernel void optim_update(__global float *w, __global const float *grad, __global float *s0,
                           __global float *s1, __global float *s2, int n, int kind,
                           __global const float *scale, float lr, float momentum, float dampening,
                           float beta1, float beta2, float eps, float alpha, float rho,
                           float weight_decay, float l1, float bias1, float bias2, int nesterov,
                           int centered, int first_step) {
    int i = get_global_id(0);
    if (i >= n) return;
    float p = w[i];
    float g = grad[i] * scale[0];
    if (kind != 2) g += weight_decay * p;
    if (l1 != 0.0f) g += l1 * sign(p);
    switch (kind) {
    case 0: /* SGD */
        if (momentum != 0.0f) {
            float buf = first_step ? g : momentum * s0[i] + (1.0f - dampening) * g;
            s0[i] = buf;
            g = nesterov ? g + momentum * buf : buf;
        }
        p -= lr * g;
        break;
    case 1: /* Adam */
    case 2: /* AdamW: decoupled decay */
        if (kind == 2) p *= 1.0f - lr * weight_decay;
        s0[i] = beta1 * s0[i] + (1.0f - beta1) * g;
        s1[i] = beta2 * s1[i] + (1.0f - beta2) * g * g;
        p -= lr / bias1 * s0[i] / (sqrt(s1[i]) / sqrt(bias2) + eps);
        break;
    case 3: /* AdaGrad; lr arrives already decayed */
        s0[i] += g * g;
        p -= lr * g / (sqrt(s0[i]) + eps);
        break;
    case 4: { /* RMSProp */
        s0[i] = alpha * s0[i] + (1.0f - alpha) * g * g;
        float avg;
        if (centered) {
            s1[i] = alpha * s1[i] + (1.0f - alpha) * g;
            avg = sqrt(s0[i] - s1[i] * s1[i]) + eps;
        } else {
            avg = sqrt(s0[i]) + eps;
        }
        if (momentum > 0.0f) {
            s2[i] = momentum * s2[i] + g / avg;
            p -= lr * s2[i];
        } else {
            p -= lr * g / avg;
        }
        break;
    }
    default: { /* AdaDelta */
        s0[i] = rho * s0[i] + (1.0f - rho) * g * g;
        float delta = sqrt(s1[i] + eps) / sqrt(s0[i] + eps) * g;
        s1[i] = rho * s1[i] + (1.0f - rho) * delta * delta;
        p -= lr * delta;
        break;
    }
    }
    w[i] = p;
}

/* scale[0] = min(1, max_norm / (sqrt(sum of squares) + 1e-6)), PyTorch's
 * clip_grad_norm_. */
__kernel void clip_scale(__global const float *squares, int count, float max_norm,
                         __global float *scale) {
    if (get_global_id(0) != 0) return;
    float s = 0.0f;
    for (int i = 0; i < count; i++)
        s += squares[i];
    scale[0] = fmin(1.0f, max_norm / (sqrt(s) + 1e-6f));
}

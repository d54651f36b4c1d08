/* Soft Dice loss over [batch, classes, inner] logits and integer labels
 * [batch, inner]: softmax over the classes, then per class c
 *   dice_c = (2 sum p_c t_c + smooth) / (sum p_c + sum t_c + smooth)
 * over every position not ignored, and loss = 1 - weighted mean of dice_c
 * (Milletari et al. 2016, V-Net, with the smoothing term of common use). */

__kernel void dice_softmax(__global const float *x, __global float *probs, int positions,
                           int classes, int inner) {
    int p = get_global_id(0);
    if (p >= positions) return;
    long base = (long)(p / inner) * classes * inner + p % inner;
    float m = -INFINITY, s = 0.0f;
    for (int c = 0; c < classes; c++)
        m = fmax(m, x[base + (long)c * inner]);
    for (int c = 0; c < classes; c++)
        s += exp(x[base + (long)c * inner] - m);
    for (int c = 0; c < classes; c++)
        probs[base + (long)c * inner] = exp(x[base + (long)c * inner] - m) / s;
}

/* sums[3c .. 3c+2] = sum p_c t_c, sum p_c, sum t_c over counted positions;
 * one work-item per class, in a fixed order. */
__kernel void dice_class_sums(__global const float *probs, __global const int *labels,
                              __global float *sums, int positions, int classes, int inner,
                              int ignore_index) {
    int c = get_global_id(0);
    if (c >= classes) return;
    float inter = 0.0f, prob = 0.0f, target = 0.0f;
    for (int p = 0; p < positions; p++) {
        int y = labels[p];
        if (y == ignore_index) continue;
        float pc = probs[(long)(p / inner) * classes * inner + (long)c * inner + p % inner];
        prob += pc;
        if (y == c) {
            inter += pc;
            target += 1.0f;
        }
    }
    sums[3 * c] = inter;
    sums[3 * c + 1] = prob;
    sums[3 * c + 2] = target;
}

__kernel void dice_finish(__global const float *sums, __global const float *weights,
                          __global float *out, int classes, float smooth) {
    if (get_global_id(0) != 0) return;
    float total = 0.0f, wsum = 0.0f;
    for (int c = 0; c < classes; c++) {
        float dice = (2.0f * sums[3 * c] + smooth) / (sums[3 * c + 1] + sums[3 * c + 2] + smooth);
        total += weights[c] * dice;
        wsum += weights[c];
    }
    out[0] = 1.0f - total / wsum;
}

/* One work-item per position: the gradient with respect to the
 * probabilities, then through the softmax. */
__kernel void dice_backward(__global const float *probs, __global const int *labels,
                            __global const float *sums, __global const float *weights,
                            __global const float *dloss, __global float *dx, int positions,
                            int classes, int inner, float smooth, int ignore_index,
                            int accumulate) {
    int p = get_global_id(0);
    if (p >= positions) return;
    long base = (long)(p / inner) * classes * inner + p % inner;
    int y = labels[p];
    float wsum = 0.0f;
    for (int c = 0; c < classes; c++)
        wsum += weights[c];
    float up = dloss[0] / wsum, dot = 0.0f;
    /* g_c = d loss / d p_c, kept in dx for the second pass */
    for (int c = 0; c < classes; c++) {
        float g = 0.0f;
        if (y != ignore_index) {
            float den = sums[3 * c + 1] + sums[3 * c + 2] + smooth;
            float t = y == c ? 1.0f : 0.0f;
            g = -up * weights[c] * (2.0f * t * den - (2.0f * sums[3 * c] + smooth)) / (den * den);
        }
        dot += probs[base + (long)c * inner] * g;
        float old = accumulate ? dx[base + (long)c * inner] : 0.0f;
        dx[base + (long)c * inner] = old + probs[base + (long)c * inner] * g;
    }
    /* softmax backward: dx_k = p_k (g_k - sum_c p_c g_c) */
    for (int c = 0; c < classes; c++)
        dx[base + (long)c * inner] -= probs[base + (long)c * inner] * dot;
}

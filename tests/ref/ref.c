/* Naive double-precision references: loops written straight from the
 * definitions, no cleverness, so that they are easy to trust. */
#include "ref.h"

#include <math.h>

bool ref_window_out(ref_window *w) {
    for (int i = 0; i < w->spatial; i++) {
        int64_t span = w->dilation[i] * (w->kernel[i] - 1) + 1;
        int64_t room = w->in[i] + w->pad_begin[i] + w->pad_end[i] - span;
        if (room < 0) return false;
        int64_t out =
            w->ceil_mode ? (room + w->stride[i] - 1) / w->stride[i] + 1 : room / w->stride[i] + 1;
        if (w->ceil_mode && (out - 1) * w->stride[i] >= w->in[i] + w->pad_begin[i]) out--;
        w->out[i] = out;
    }
    return true;
}

static int64_t volume(const int64_t *v, int spatial) {
    int64_t n = 1;
    for (int i = 0; i < spatial; i++)
        n *= v[i];
    return n;
}

/* Splits a flat index over dims v[0..spatial) into coordinates. */
static void coords(int64_t flat, const int64_t *v, int spatial, int64_t *c) {
    for (int i = spatial - 1; i >= 0; i--) {
        c[i] = flat % v[i];
        flat /= v[i];
    }
}

/* Flat input index of output position o and kernel tap k, or -1 in padding. */
static int64_t tap(const ref_window *w, const int64_t *o, const int64_t *k) {
    int64_t flat = 0;
    for (int i = 0; i < w->spatial; i++) {
        int64_t pos = o[i] * w->stride[i] - w->pad_begin[i] + k[i] * w->dilation[i];
        if (pos < 0 || pos >= w->in[i]) return -1;
        flat = flat * w->in[i] + pos;
    }
    return flat;
}

void ref_conv(const double *x, const double *w, const double *b, int64_t n, int64_t c_in,
              int64_t c_out, int64_t groups, const ref_window *win, double *y) {
    int64_t in_vol = volume(win->in, win->spatial), out_vol = volume(win->out, win->spatial);
    int64_t k_vol = volume(win->kernel, win->spatial);
    int64_t cg_in = c_in / groups, cg_out = c_out / groups;
    for (int64_t s = 0; s < n; s++)
        for (int64_t co = 0; co < c_out; co++) {
            int64_t grp = co / cg_out;
            for (int64_t op = 0; op < out_vol; op++) {
                int64_t o[3], k[3];
                coords(op, win->out, win->spatial, o);
                double acc = b ? b[co] : 0.0;
                for (int64_t ci = 0; ci < cg_in; ci++)
                    for (int64_t kp = 0; kp < k_vol; kp++) {
                        coords(kp, win->kernel, win->spatial, k);
                        int64_t at = tap(win, o, k);
                        if (at < 0) continue;
                        acc += x[(s * c_in + grp * cg_in + ci) * in_vol + at] *
                               w[(co * cg_in + ci) * k_vol + kp];
                    }
                y[(s * c_out + co) * out_vol + op] = acc;
            }
        }
}

void ref_conv_transpose(const double *x, const double *w, const double *b, int64_t n, int64_t c_in,
                        int64_t c_out, int64_t groups, const ref_window *win, double *y) {
    int64_t in_vol = volume(win->in, win->spatial), out_vol = volume(win->out, win->spatial);
    int64_t k_vol = volume(win->kernel, win->spatial);
    int64_t cg_in = c_in / groups, cg_out = c_out / groups;
    for (int64_t s = 0; s < n; s++)
        for (int64_t co = 0; co < c_out; co++)
            for (int64_t op = 0; op < out_vol; op++)
                y[(s * c_out + co) * out_vol + op] = b ? b[co] : 0.0;
    /* Each input element scatters through every tap of its weights. */
    for (int64_t s = 0; s < n; s++)
        for (int64_t ci = 0; ci < c_in; ci++) {
            int64_t grp = ci / cg_in;
            for (int64_t ip = 0; ip < in_vol; ip++) {
                int64_t i[3], k[3];
                coords(ip, win->in, win->spatial, i);
                double v = x[(s * c_in + ci) * in_vol + ip];
                for (int64_t kp = 0; kp < k_vol; kp++) {
                    coords(kp, win->kernel, win->spatial, k);
                    int64_t at = 0;
                    for (int d = 0; d < win->spatial && at >= 0; d++) {
                        int64_t pos =
                            i[d] * win->stride[d] - win->pad_begin[d] + k[d] * win->dilation[d];
                        at = pos < 0 || pos >= win->out[d] ? -1 : at * win->out[d] + pos;
                    }
                    if (at < 0) continue;
                    for (int64_t cl = 0; cl < cg_out; cl++)
                        y[(s * c_out + grp * cg_out + cl) * out_vol + at] +=
                            v * w[(ci * cg_out + cl) * k_vol + kp];
                }
            }
        }
}

void ref_max_pool(const double *x, int64_t planes, const ref_window *win, double *y) {
    int64_t in_vol = volume(win->in, win->spatial), out_vol = volume(win->out, win->spatial);
    int64_t k_vol = volume(win->kernel, win->spatial);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t op = 0; op < out_vol; op++) {
            int64_t o[3], k[3];
            coords(op, win->out, win->spatial, o);
            double best = -INFINITY;
            for (int64_t kp = 0; kp < k_vol; kp++) {
                coords(kp, win->kernel, win->spatial, k);
                int64_t at = tap(win, o, k);
                if (at >= 0 && x[p * in_vol + at] > best) best = x[p * in_vol + at];
            }
            y[p * out_vol + op] = best;
        }
}

void ref_avg_pool(const double *x, int64_t planes, const ref_window *win, bool count_include_pad,
                  double *y) {
    int64_t in_vol = volume(win->in, win->spatial), out_vol = volume(win->out, win->spatial);
    int64_t k_vol = volume(win->kernel, win->spatial);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t op = 0; op < out_vol; op++) {
            int64_t o[3], k[3];
            coords(op, win->out, win->spatial, o);
            double sum = 0.0;
            int64_t real = 0, padded = 1;
            for (int i = 0; i < win->spatial; i++) {
                /* PyTorch: the window clipped to the padded input. */
                int64_t start = o[i] * win->stride[i] - win->pad_begin[i];
                int64_t end = start + win->kernel[i];
                if (end > win->in[i] + win->pad_end[i]) end = win->in[i] + win->pad_end[i];
                padded *= end - start;
            }
            for (int64_t kp = 0; kp < k_vol; kp++) {
                coords(kp, win->kernel, win->spatial, k);
                int64_t at = tap(win, o, k);
                if (at < 0) continue;
                sum += x[p * in_vol + at];
                real++;
            }
            y[p * out_vol + op] = sum / (double)(count_include_pad ? padded : real);
        }
}

void ref_batch_norm(const double *x, const double *gamma, const double *beta,
                    const double *running_mean, const double *running_var, int64_t n, int64_t c,
                    int64_t inner, double eps, bool training, double *y, double *mean,
                    double *var) {
    for (int64_t ch = 0; ch < c; ch++) {
        double m = 0.0, v = 0.0, count = (double)(n * inner);
        if (training) {
            for (int64_t s = 0; s < n; s++)
                for (int64_t j = 0; j < inner; j++)
                    m += x[(s * c + ch) * inner + j];
            m /= count;
            for (int64_t s = 0; s < n; s++)
                for (int64_t j = 0; j < inner; j++) {
                    double d = x[(s * c + ch) * inner + j] - m;
                    v += d * d;
                }
            v /= count;
        } else {
            m = running_mean[ch];
            v = running_var[ch];
        }
        if (mean) mean[ch] = m;
        if (var) var[ch] = v;
        for (int64_t s = 0; s < n; s++)
            for (int64_t j = 0; j < inner; j++) {
                int64_t i = (s * c + ch) * inner + j;
                double h = (x[i] - m) / sqrt(v + eps);
                y[i] = gamma ? h * gamma[ch] + beta[ch] : h;
            }
    }
}

static double clamp01(double v) {
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

void ref_activation(const double *x, int64_t n, ref_act kind, double alpha, double beta,
                    double *y) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        switch (kind) {
        case REF_RELU:
            y[i] = v > 0 ? v : 0;
            break;
        case REF_LEAKY_RELU:
            y[i] = v > 0 ? v : alpha * v;
            break;
        case REF_SIGMOID:
            y[i] = 1.0 / (1.0 + exp(-v));
            break;
        case REF_TANH:
            y[i] = tanh(v);
            break;
        case REF_ELU:
            y[i] = v > 0 ? v : alpha * (exp(v) - 1.0);
            break;
        case REF_GELU:
            y[i] = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
            break;
        case REF_GELU_TANH:
            y[i] = 0.5 * v *
                   (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
            break;
        case REF_SILU:
            y[i] = v / (1.0 + exp(-v));
            break;
        case REF_SOFTPLUS:
            y[i] = alpha * v > beta ? v : log(1.0 + exp(alpha * v)) / alpha;
            break;
        case REF_RELU6:
            y[i] = v < 0 ? 0 : v > 6 ? 6 : v;
            break;
        case REF_HARDSIGMOID:
            y[i] = clamp01(v / 6.0 + 0.5);
            break;
        case REF_HARDSWISH:
            y[i] = v * clamp01(v / 6.0 + 0.5);
            break;
        case REF_SELU:
            y[i] = beta * (v > 0 ? v : alpha * (exp(v) - 1.0));
            break;
        case REF_CLAMP:
            y[i] = fmin(fmax(v, alpha), beta); /* min > max: max everywhere, as torch.clamp */
            break;
        case REF_ABS:
            y[i] = fabs(v);
            break;
        case REF_NEG:
            y[i] = -v;
            break;
        case REF_EXP:
            y[i] = exp(v);
            break;
        case REF_LOG:
            y[i] = log(v);
            break;
        case REF_SQRT:
            y[i] = sqrt(v);
            break;
        case REF_RECIPROCAL:
            y[i] = 1.0 / v;
            break;
        case REF_ERF:
            y[i] = erf(v);
            break;
        }
    }
}

void ref_linear(const double *x, const double *w, const double *b, int64_t rows, int64_t in,
                int64_t out, double *y) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int64_t i = 0; i < in; i++)
                acc += x[r * in + i] * w[o * in + i];
            y[r * out + o] = acc;
        }
}

void ref_softmax(const double *x, int64_t n, int64_t c, int64_t inner, double *y) {
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < inner; j++) {
            double sum = 0.0;
            for (int64_t ch = 0; ch < c; ch++)
                sum += exp(x[(s * c + ch) * inner + j]);
            for (int64_t ch = 0; ch < c; ch++)
                y[(s * c + ch) * inner + j] = exp(x[(s * c + ch) * inner + j]) / sum;
        }
}

double ref_cross_entropy(const double *x, const int32_t *labels, int64_t n, int64_t c) {
    double total = 0.0;
    for (int64_t s = 0; s < n; s++) {
        double sum = 0.0;
        for (int64_t ch = 0; ch < c; ch++)
            sum += exp(x[s * c + ch]);
        total += log(sum) - x[s * c + labels[s]];
    }
    return total / (double)n;
}

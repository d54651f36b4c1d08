/* Naive host references for every op, in double precision, written from the
 * ops' definitions (PyTorch's documentation) and independent of the library:
 * the tests compare the device's results with these, and differentiate
 * them by central finite differences to check the device's backward pass. */
#ifndef NNCL_TEST_REF_H
#define NNCL_TEST_REF_H

#include <stdbool.h>
#include <stdint.h>

/* Spatial geometry of a window op: up to 3 spatial dims, in[i] etc. for the
 * dims the tensor has (spatial = rank - 2). */
typedef struct ref_window {
    int spatial;
    int64_t in[3], out[3], kernel[3], stride[3], pad_begin[3], pad_end[3], dilation[3];
    bool ceil_mode;
} ref_window;

/* Fills out[] from in, kernel, stride, padding, dilation and ceil_mode by
 * PyTorch's output-size rule. Returns false if some dim has no output. */
bool ref_window_out(ref_window *w);

/* x [N, C_in, in...], w [C_out, C_in/groups, k...], b [C_out] or NULL. */
void ref_conv(const double *x, const double *w, const double *b, int64_t n, int64_t c_in,
              int64_t c_out, int64_t groups, const ref_window *win, double *y);
/* x [N, C_in, in...], w [C_in, C_out/groups, k...], b [C_out] or NULL;
 * win->out holds the output size, pad_begin the padding. */
void ref_conv_transpose(const double *x, const double *w, const double *b, int64_t n, int64_t c_in,
                        int64_t c_out, int64_t groups, const ref_window *win, double *y);
void ref_max_pool(const double *x, int64_t planes, const ref_window *win, double *y);
void ref_avg_pool(const double *x, int64_t planes, const ref_window *win, bool count_include_pad,
                  double *y);
/* Batch norm over dim 1 of [n, c, inner]. Training: batch statistics
 * (biased variance); also writes them to mean/var when not NULL. */
void ref_batch_norm(const double *x, const double *gamma, const double *beta,
                    const double *running_mean, const double *running_var, int64_t n, int64_t c,
                    int64_t inner, double eps, bool training, double *y, double *mean, double *var);
typedef enum ref_act {
    REF_RELU,
    REF_LEAKY_RELU,
    REF_SIGMOID,
    REF_TANH,
    REF_ELU,
    REF_GELU,
    REF_GELU_TANH,
    REF_SILU,
    REF_SOFTPLUS, /* alpha = beta, beta = threshold */
    REF_RELU6,
    REF_HARDSIGMOID,
    REF_HARDSWISH,
    REF_SELU,  /* alpha, beta = scale */
    REF_CLAMP, /* alpha = min, beta = max */
    REF_ABS,
    REF_NEG,
    REF_EXP,
    REF_LOG,
    REF_SQRT,
    REF_RECIPROCAL,
    REF_ERF,
} ref_act;
void ref_activation(const double *x, int64_t n, ref_act kind, double alpha, double beta, double *y);
/* x [rows, in], w [out, in], b [out] or NULL. */
void ref_linear(const double *x, const double *w, const double *b, int64_t rows, int64_t in,
                int64_t out, double *y);
void ref_softmax(const double *x, int64_t n, int64_t c, int64_t inner, double *y);
/* Mean over the batch of -log softmax(x)[label]. */
double ref_cross_entropy(const double *x, const int32_t *labels, int64_t n, int64_t c);

#endif

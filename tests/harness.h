/* Shared test machinery: one context per test program, seeded random data,
 * closeness checks that report the first mismatch, and check_op, which
 * tests an op's forward against a host reference and its backward against
 * central finite differences of that reference, in double. */
#ifndef NNCL_TEST_HARNESS_H
#define NNCL_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <nncl.h>

/* Fails the test with nncl_last_error() when a call does not return NNCL_OK. */
#define ASSERT_OK(call)                                                                            \
    do {                                                                                           \
        nncl_status st_ = (call);                                                                  \
        if (st_ != NNCL_OK)                                                                        \
            fail_msg("%s -> %s: %s", #call, nncl_status_name(st_), nncl_last_error());             \
    } while (0)

/* The context every test in the program shares (created on first use). */
nncl_context *test_context(void);
int test_context_teardown(void **state);

/* Fails the test unless text contains part. */
void assert_contains(const char *text, const char *part);

/* A fresh directory under /tmp for the test program's files: cmocka group
 * setup and teardown (the teardown removes it and the shared context). */
extern char test_dir[64];
int test_dir_setup(void **state);
int test_dir_teardown(void **state);

/* Writes test_dir/name as a .npy file of format 1.0: `header` (the dict
 * text) padded as NumPy pads it, then `bytes` bytes of data (zeros when
 * data is NULL). Returns the path (one of two static buffers). */
const char *write_npy_raw(const char *name, const char *header, const void *data, size_t bytes);
/* The same with the header NumPy writes for a C-order array of descr
 * ("<f4", "<i8", "|u1", ...) and shape. */
const char *write_npy(const char *name, const char *descr, nncl_shape shape, const void *data,
                      size_t bytes);

/* Uniform doubles in [lo, hi), rounded to float so host and device agree. */
void random_fill(double *x, int64_t n, uint64_t seed, double lo, double hi);
/* n distinct values spread over [-2, 2] with spacing 4/n, none closer than
 * 1/n to 0 (a quarter step off the grid): kinks of ReLU and ties of max
 * stay out of reach of the finite-difference step. */
void distinct_fill(double *x, int64_t n, uint64_t seed);
float *to_float(const double *x, int64_t n);

/* Asserts |got - want| <= atol + rtol * |want| everywhere. */
void assert_close(const char *what, const float *got, const double *want, int64_t n, double rtol,
                  double atol);

#define CHECK_MAX_INPUTS 3

typedef struct op_check {
    const char *label;
    int n_inputs;
    nncl_shape inputs[CHECK_MAX_INPUTS];
    int64_t labels_batch;    /* > 0: also a labels input, for losses */
    nncl_shape labels_shape; /* rank > 0: a labels input of this shape instead */
    const int32_t *labels;
    bool eval; /* run in eval mode */
    /* Inputs span [-2 s, 2 s] (0: s = 1), to reach kinks beyond +-2. */
    double input_scale;
    /* Builds the op on the given inputs; cfg is the case's own description. */
    nncl_node *(*build)(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg);
    /* The reference: y from the inputs and the graph's parameters and
     * buffers (in nncl_graph_param_info order). */
    void (*ref)(const double *const *x, const double *const *params, const int32_t *labels,
                double *y, const void *cfg);
    const void *cfg;
} op_check;

/* Forward against ref, then backward (random upstream gradient) against
 * finite differences of ref for every input and trainable parameter. */
void check_op(const op_check *c);

#endif

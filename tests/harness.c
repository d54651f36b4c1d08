/* The test machinery declared in harness.h. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nncl_context *shared_ctx;

nncl_context *test_context(void) {
    if (!shared_ctx && nncl_context_create(NULL, &shared_ctx) != NNCL_OK)
        fail_msg("no context: %s", nncl_last_error());
    return shared_ctx;
}

int test_context_teardown(void **state) {
    (void)state;
    nncl_context_destroy(shared_ctx);
    shared_ctx = NULL;
    return 0;
}

void assert_contains(const char *text, const char *part) {
    if (!text || !strstr(text, part))
        fail_msg("expected \"%s\" in \"%s\"", part, text ? text : "(null)");
}

char test_dir[64];

const char *write_npy_raw(const char *name, const char *header, const void *data, size_t bytes) {
    static char path[2][256];
    static int which;
    which ^= 1;
    snprintf(path[which], sizeof path[which], "%s/%s", test_dir, name);
    FILE *f = fopen(path[which], "wb");
    assert_non_null(f);
    size_t len = strlen(header), padded = (10 + len + 1 + 63) / 64 * 64 - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(padded & 255),
                             (unsigned char)(padded >> 8)};
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, len, f);
    for (size_t i = len; i + 1 < padded; i++)
        fputc(' ', f);
    fputc('\n', f);
    for (size_t i = 0; i < bytes; i++)
        fputc(data ? ((const unsigned char *)data)[i] : 0, f);
    fclose(f);
    return path[which];
}

const char *write_npy(const char *name, const char *descr, nncl_shape shape, const void *data,
                      size_t bytes) {
    char header[256], dims[160] = "";
    for (int32_t i = 0; i < shape.rank; i++)
        snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%lld", i ? ", " : "",
                 (long long)shape.dims[i]);
    snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s%s), }",
             descr, dims, shape.rank == 1 ? "," : "");
    return write_npy_raw(name, header, data, bytes);
}

int test_dir_setup(void **state) {
    (void)state;
    snprintf(test_dir, sizeof test_dir, "/tmp/nncl-test-XXXXXX");
    return mkdtemp(test_dir) ? 0 : -1;
}

int test_dir_teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
    if (system(cmd) != 0) return -1;
    return test_context_teardown(state);
}

static uint64_t next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void random_fill(double *x, int64_t n, uint64_t seed, double lo, double hi) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * (double)(next(&seed) >> 11) / 9007199254740992.0);
}

void distinct_fill(double *x, int64_t n, uint64_t seed) {
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    assert_non_null(perm);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(next(&seed) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(-2.0 + ((double)perm[i] + 0.25) * 4.0 / (double)n);
    free(perm);
}

float *to_float(const double *x, int64_t n) {
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    assert_non_null(f);
    for (int64_t i = 0; i < n; i++)
        f[i] = (float)x[i];
    return f;
}

void assert_close(const char *what, const float *got, const double *want, int64_t n, double rtol,
                  double atol) {
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= atol + rtol * fabs(want[i])))
            fail_msg("%s: element %lld of %lld is %.9g, expected %.9g (error %.3g)", what,
                     (long long)i, (long long)n, (double)got[i], want[i], err);
    }
}

typedef struct probe {
    const op_check *c;
    double *x[CHECK_MAX_INPUTS];
    double **params;
    const double *upstream;
    double *y;
    int64_t y_n;
} probe;

static double weighted_output(probe *p) {
    p->c->ref((const double *const *)p->x, (const double *const *)p->params, p->c->labels, p->y,
              p->c->cfg);
    double sum = 0.0;
    for (int64_t i = 0; i < p->y_n; i++)
        sum += p->upstream[i] * p->y[i];
    return sum;
}

/* d(sum upstream * ref) / d v[i] by central differences. */
static void numeric_grad(probe *p, double *v, int64_t n, double *grad) {
    const double h = 1e-4;
    for (int64_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + h;
        double up = weighted_output(p);
        v[i] = keep - h;
        double down = weighted_output(p);
        v[i] = keep;
        grad[i] = (up - down) / (2 * h);
    }
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

void check_op(const op_check *c) {
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 7}, &g));
    nncl_node *x[CHECK_MAX_INPUTS] = {0}, *labels = NULL;
    probe p = {.c = c};
    float *xf[CHECK_MAX_INPUTS] = {0};
    for (int i = 0; i < c->n_inputs; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        x[i] = nncl_input(g, name, c->inputs[i]);
        if (x[i]) ASSERT_OK(nncl_input_set_requires_grad(g, x[i], true));
    }
    nncl_shape label_shape = c->labels_shape.rank ? c->labels_shape : NNCL_SHAPE(c->labels_batch);
    if (c->labels_batch || c->labels_shape.rank)
        labels = nncl_input_labels_nd(g, "labels", label_shape);
    nncl_node *y = c->build(g, x, labels, c->cfg);
    if (nncl_graph_status(g) != NNCL_OK || !y)
        fail_msg("%s: building failed: %s", c->label, nncl_graph_error(g));
    for (int i = 0; i < c->n_inputs; i++) {
        int64_t n = nncl_shape_numel(c->inputs[i]);
        p.x[i] = malloc((size_t)n * sizeof(double));
        distinct_fill(p.x[i], n, 100 + (uint64_t)i);
        for (int64_t j = 0; c->input_scale && j < n; j++)
            p.x[i][j] = (float)(p.x[i][j] * c->input_scale);
        xf[i] = to_float(p.x[i], n);
        ASSERT_OK(nncl_graph_set_input(g, x[i], xf[i], (size_t)n * sizeof(float)));
    }
    if (labels)
        ASSERT_OK(nncl_graph_set_input(g, labels, c->labels,
                                       (size_t)nncl_shape_numel(label_shape) * sizeof(int32_t)));
    size_t n_params = nncl_graph_param_count(g);
    p.params = calloc(n_params + 1, sizeof *p.params);
    for (size_t k = 0; k < n_params; k++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(g, k, &info));
        int64_t n = nncl_shape_numel(info.shape);
        p.params[k] = malloc((size_t)n * sizeof(double));
        bool variance = ends_with(info.name, "running_var");
        random_fill(p.params[k], n, 200 + k, variance ? 0.5 : -1.0, variance ? 1.5 : 1.0);
        float *f = to_float(p.params[k], n);
        ASSERT_OK(nncl_graph_param_write(g, info.name, f, (size_t)n * sizeof(float)));
        free(f);
    }
    nncl_graph_set_training(g, !c->eval);
    ASSERT_OK(nncl_graph_forward(g));

    p.y_n = nncl_shape_numel(nncl_node_shape(y));
    p.y = malloc((size_t)p.y_n * sizeof(double));
    float *got = malloc((size_t)p.y_n * sizeof(float));
    ASSERT_OK(nncl_graph_read(g, y, got, (size_t)p.y_n * sizeof(float)));
    c->ref((const double *const *)p.x, (const double *const *)p.params, c->labels, p.y, c->cfg);
    char what[256];
    snprintf(what, sizeof what, "%s: forward", c->label);
    assert_close(what, got, p.y, p.y_n, 1e-4, 1e-4);

    double *upstream = malloc((size_t)p.y_n * sizeof(double));
    random_fill(upstream, p.y_n, 300, -1.0, 1.0);
    p.upstream = upstream;
    float *up_f = to_float(upstream, p.y_n);
    ASSERT_OK(nncl_graph_backward(g, y, up_f, (size_t)p.y_n * sizeof(float)));

    for (int i = 0; i < c->n_inputs; i++) {
        int64_t n = nncl_shape_numel(c->inputs[i]);
        float *dx = malloc((size_t)n * sizeof(float));
        double *num = malloc((size_t)n * sizeof(double));
        ASSERT_OK(nncl_graph_read_grad(g, x[i], dx, (size_t)n * sizeof(float)));
        numeric_grad(&p, p.x[i], n, num);
        snprintf(what, sizeof what, "%s: gradient of input %d", c->label, i);
        assert_close(what, dx, num, n, 2e-4, 2e-4);
        free(dx);
        free(num);
    }
    for (size_t k = 0; k < n_params; k++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(g, k, &info));
        if (!info.trainable) continue;
        int64_t n = nncl_shape_numel(info.shape);
        float *dp = malloc((size_t)n * sizeof(float));
        double *num = malloc((size_t)n * sizeof(double));
        ASSERT_OK(nncl_graph_grad_read(g, info.name, dp, (size_t)n * sizeof(float)));
        numeric_grad(&p, p.params[k], n, num);
        snprintf(what, sizeof what, "%s: gradient of %s", c->label, info.name);
        assert_close(what, dp, num, n, 2e-4, 2e-4);
        free(dp);
        free(num);
    }
    for (int i = 0; i < c->n_inputs; i++) {
        free(p.x[i]);
        free(xf[i]);
    }
    for (size_t k = 0; k < n_params; k++)
        free(p.params[k]);
    free(p.params);
    free(p.y);
    free(got);
    free(upstream);
    free(up_f);
    nncl_graph_destroy(g);
}

/* The reader and the comparisons declared in torch_data.h. */
#include "torch_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NNCL_TEST_DATA
#error "NNCL_TEST_DATA must name the tests/data directory"
#endif

static tensor *tensors;
static size_t n_tensors;

int torch_data_load(void **state) {
    (void)state;
    FILE *f = fopen(NNCL_TEST_DATA "/torch_reference.txt", "r");
    if (!f) return -1;
    char name[128];
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '#') {
            while ((c = fgetc(f)) != EOF && c != '\n') {
            }
            continue;
        }
        ungetc(c, f);
        int rank;
        if (fscanf(f, "%127s %d", name, &rank) != 2) break;
        tensor *grown = realloc(tensors, (n_tensors + 1) * sizeof *tensors);
        if (!grown) break;
        tensors = grown;
        tensor *t = &tensors[n_tensors++];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->shape.rank = rank;
        t->n = 1;
        for (int i = 0; i < rank; i++) {
            long long d;
            if (fscanf(f, "%lld", &d) != 1) break;
            t->shape.dims[i] = d;
            t->n *= d;
        }
        t->v = malloc((size_t)t->n * sizeof(double));
        for (int64_t i = 0; t->v && i < t->n; i++)
            if (fscanf(f, "%lf", &t->v[i]) != 1) t->v[i] = 0.0;
    }
    fclose(f);
    return n_tensors > 0 ? 0 : -1;
}

int torch_data_unload(void **state) {
    for (size_t i = 0; i < n_tensors; i++)
        free(tensors[i].v);
    free(tensors);
    tensors = NULL;
    n_tensors = 0;
    return test_context_teardown(state);
}

const tensor *find(const char *test, const char *name) {
    char full[256];
    snprintf(full, sizeof full, "%s/%s", test, name);
    for (size_t i = 0; i < n_tensors; i++)
        if (!strcmp(tensors[i].name, full)) return &tensors[i];
    return NULL;
}

const tensor *need(const char *test, const char *name) {
    const tensor *t = find(test, name);
    if (!t) fail_msg("%s/%s is missing from the reference data", test, name);
    return t;
}

int32_t *labels_of(const tensor *t) {
    int32_t *l = malloc((size_t)t->n * sizeof *l);
    assert_non_null(l);
    for (int64_t i = 0; i < t->n; i++)
        l[i] = (int32_t)t->v[i];
    return l;
}

void compare(nncl_graph *g, source from, const nncl_node *node, const char *param, const char *test,
             const char *name) {
    const tensor *t = need(test, name);
    size_t bytes = (size_t)t->n * sizeof(float);
    float *got = malloc(bytes);
    switch (from) {
    case OUTPUT:
        ASSERT_OK(nncl_graph_read(g, node, got, bytes));
        break;
    case OUTPUT_GRAD:
        ASSERT_OK(nncl_graph_read_grad(g, node, got, bytes));
        break;
    case PARAM:
        ASSERT_OK(nncl_graph_param_read(g, param, got, bytes));
        break;
    case PARAM_GRAD:
        ASSERT_OK(nncl_graph_grad_read(g, param, got, bytes));
        break;
    }
    char what[256];
    snprintf(what, sizeof what, "%s: %s", test, name);
    assert_close(what, got, t->v, t->n, 1e-4, 1e-4);
    free(got);
}

void load_params(nncl_graph *g, const char *test, bool prefixed) {
    for (size_t k = 0; k < nncl_graph_param_count(g); k++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(g, k, &info));
        const char *key = prefixed ? info.name : strchr(info.name, '.') + 1;
        const tensor *t = need(test, key);
        float *f = to_float(t->v, t->n);
        ASSERT_OK(nncl_graph_param_write(g, info.name, f, (size_t)t->n * sizeof(float)));
        free(f);
    }
}

void compare_param_grads(nncl_graph *g, const char *test) {
    for (size_t k = 0; k < nncl_graph_param_count(g); k++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(g, k, &info));
        if (!info.trainable) continue;
        char key[160];
        snprintf(key, sizeof key, "grad.%s", info.name);
        compare(g, PARAM_GRAD, NULL, info.name, test, key);
    }
}

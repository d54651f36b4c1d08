/* Reading tests/data/torch_reference.txt, the values PyTorch computed for
 * the tests (written by tools/gen-torch-reference.py): one tensor a line,
 * named "<case>/<tensor>". */
#ifndef NNCL_TEST_TORCH_DATA_H
#define NNCL_TEST_TORCH_DATA_H

#include "harness.h"

typedef struct tensor {
    char name[128];
    nncl_shape shape;
    int64_t n;
    double *v;
} tensor;

/* cmocka group setup / teardown: read the file, free it (and the context). */
int torch_data_load(void **state);
int torch_data_unload(void **state);

/* The tensor "<test>/<name>", or NULL; need() fails the test when absent. */
const tensor *find(const char *test, const char *name);
const tensor *need(const char *test, const char *name);
/* A tensor of class indices stored as floats, as int32 (malloc'd). */
int32_t *labels_of(const tensor *t);

/* What a comparison reads from the graph: a node's output or gradient, or
 * a parameter (or buffer) or its gradient. */
typedef enum source { OUTPUT, OUTPUT_GRAD, PARAM, PARAM_GRAD } source;
/* Asserts that what `from` reads equals the tensor "<test>/<name>" (rtol
 * and atol 1e-4). */
void compare(nncl_graph *g, source from, const nncl_node *node, const char *param, const char *test,
             const char *name);
/* compare() of every trainable parameter's gradient with "grad.<name>". */
void compare_param_grads(nncl_graph *g, const char *test);
/* Writes every graph parameter "<node>.<key>" from the tensor "<key>" (or
 * "<node>.<key>" when prefixed is set). */
void load_params(nncl_graph *g, const char *test, bool prefixed);

#endif

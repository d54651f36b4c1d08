/* A graph as an ONNX model in plain memory, for export: ops describe their
 * nodes through their table entry's to_onnx (in their own files, where
 * their attributes live), this file's calls collect nodes, attributes and
 * initializers, and lib/onnx/export.c turns the result into the file. */
#ifndef NNCL_ONNX_WRITER_H
#define NNCL_ONNX_WRITER_H

#include "graph.h"

typedef enum nncl_ox_attr_type {
    NNCL_OX_FLOAT = 1,
    NNCL_OX_INT = 2,
    NNCL_OX_STRING = 3,
    NNCL_OX_FLOATS = 6,
    NNCL_OX_INTS = 7,
} nncl_ox_attr_type; /* ONNX's AttributeType numbers */

typedef struct nncl_ox_attr {
    const char *name;
    nncl_ox_attr_type type;
    float f;
    int64_t i;
    const char *s;
    int64_t *ints;
    float *floats;
    int count;
} nncl_ox_attr;

typedef struct nncl_ox_node {
    const char *op_type;
    const char *inputs[64];
    int n_inputs;
    const char *output;
    nncl_ox_attr *attrs;
    int n_attrs;
} nncl_ox_node;

typedef struct nncl_ox_tensor {
    const char *name;
    int rank;
    int64_t dims[NNCL_MAX_RANK];
    int64_t numel;
    float *floats; /* or */
    int64_t *ints;
} nncl_ox_tensor;

typedef struct nncl_ox_io {
    const char *name;
    nncl_shape shape;
    bool ints;  /* int64 (ids, labels) rather than float */
    bool batch; /* dim 0 is the batch: written as the symbolic "N" */
} nncl_ox_io;

typedef struct nncl_onnx_writer {
    nncl_graph *g;
    nncl_ox_node *nodes;
    size_t n_nodes, nodes_cap;
    nncl_ox_tensor *tensors;
    size_t n_tensors, tensors_cap;
    nncl_ox_io inputs[64], outputs[64];
    size_t n_inputs, n_outputs;
    bool *batch;  /* per node: dim 0 is the batch (the inputs' dim 0, carried along) */
    void **owned; /* every string and array above, freed together */
    size_t n_owned, owned_cap;
    nncl_status status; /* the first error */
} nncl_onnx_writer;

/* Walks the nodes outputs[0 .. n) depend on, in order, and describes each
 * through its to_onnx; inputs (but those set by a call of their own, which
 * declare their form themselves) and parameters become graph inputs and
 * initializers. An op without an ONNX form is NNCL_ERROR_INVALID_ARGUMENT
 * naming it. Free with nncl_onnx_writer_free, also after an error. */
nncl_status nncl_onnx_writer_build(nncl_graph *g, nncl_node *const *outputs, size_t n,
                                   nncl_onnx_writer *w);
void nncl_onnx_writer_free(nncl_onnx_writer *w);

/* node's shape for a Reshape target: dim 0 written 0 (copied from the
 * input, so any batch runs) where both carry the batch in it. */
void nncl_ox_reshape_dims(const nncl_onnx_writer *w, const nncl_node *node, const nncl_node *input,
                          int64_t *dims);

/* For ops' to_onnx. Names: a node's output value is its name; temporaries
 * are "<node>/<suffix>". Calls after an error do nothing and return NULL
 * or -1; the writer keeps the first error. */
const char *nncl_ox_value(const nncl_node *node);
const char *nncl_ox_temp(nncl_onnx_writer *w, const nncl_node *node, const char *suffix);
/* Adds op_type(inputs) -> output (NULL inputs are written as ""); its index
 * for the attribute calls, or -1. */
int nncl_ox_add(nncl_onnx_writer *w, const char *op_type, const char *const *inputs, int n_inputs,
                const char *output);
void nncl_ox_int(nncl_onnx_writer *w, int node, const char *name, int64_t v);
void nncl_ox_float(nncl_onnx_writer *w, int node, const char *name, float v);
void nncl_ox_string(nncl_onnx_writer *w, int node, const char *name, const char *v);
void nncl_ox_ints(nncl_onnx_writer *w, int node, const char *name, const int64_t *v, int count);
/* The initializer holding parameter i of node (its current values), named
 * as the parameter. */
const char *nncl_ox_param(nncl_onnx_writer *w, const nncl_node *node, size_t i);
/* Constant initializers "<node>/<suffix>": int64 values (a 1-dim tensor of
 * count) or float values of a shape (rank 0: a scalar). */
const char *nncl_ox_const_ints(nncl_onnx_writer *w, const nncl_node *node, const char *suffix,
                               const int64_t *v, int count);
const char *nncl_ox_const_floats(nncl_onnx_writer *w, const nncl_node *node, const char *suffix,
                                 const float *v, nncl_shape shape);
/* Declares a graph input the model reads (one an op writes in its own
 * form: graph inputs declare their dense adjacency this way). */
void nncl_ox_input(nncl_onnx_writer *w, const char *name, nncl_shape shape, bool ints);
/* Records that node cannot be written, and why; returns the status. */
nncl_status nncl_ox_refuse(nncl_onnx_writer *w, const nncl_node *node, const char *why);
/* The writer's status (ops' to_onnx return it). */
nncl_status nncl_ox_status(const nncl_onnx_writer *w);

#endif

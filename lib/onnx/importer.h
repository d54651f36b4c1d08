/* What the ONNX importer's parts share: the importer's state (values by
 * name, weights waiting to be written, tensors it made), helpers that read
 * attributes and inputs, and the operator mappers of import_*.c, each of
 * which builds one ONNX node into nncl ops with ONNX's semantics. */
#ifndef NNCL_ONNX_IMPORTER_H
#define NNCL_ONNX_IMPORTER_H

#include "../graph/graph.h"
#include "onnx_file.h"

/* A value name's entry: a node the graph computes, a constant tensor, or
 * both (a graph input given a value). */
typedef struct slot {
    const char *name;
    nncl_node *node;
    const NnclOnnx__TensorProto *tensor; /* an initializer, a Constant or a folded value */
    bool constant;                       /* never trained (a Constant or folded) */
} slot;

typedef struct pending_write {
    char *param;
    float *values;
    int64_t count;
} pending_write;

typedef struct importer {
    nncl_graph *g;
    const char *file;
    const nncl_onnx_options *o;
    int64_t opset;
    slot *slots;
    size_t cap;
    pending_write *writes;
    size_t n_writes, writes_cap;
    NnclOnnx__TensorProto **made; /* tensors the import made, freed with it */
    size_t n_made, made_cap;
} importer;

typedef nncl_status (*onnx_mapper)(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                   nncl_node **out);

slot *onnx_lookup(importer *im, const char *name);
/* An error naming the file and node; fmt has one %s for detail. */
nncl_status onnx_fail(importer *im, const char *label, const char *fmt, const char *detail);
nncl_status onnx_no_memory(importer *im);

const NnclOnnx__AttributeProto *onnx_attr(const NnclOnnx__NodeProto *n, const char *name);
int64_t onnx_attr_int(const NnclOnnx__NodeProto *n, const char *name, int64_t fallback);
float onnx_attr_float(const NnclOnnx__NodeProto *n, const char *name, float fallback);
/* Up to max ints into out; how many (0 when absent), -1 for more than max. */
int onnx_attr_ints(const NnclOnnx__NodeProto *n, const char *name, int64_t *out, int max);
const char *onnx_attr_string(const NnclOnnx__NodeProto *n, const char *name, const char *fallback,
                             char *buf, size_t size);

/* Input k of n: the node computing it, or NULL (absent, or a constant). */
nncl_node *onnx_value(importer *im, const NnclOnnx__NodeProto *n, size_t k);
/* Input k of n as a constant tensor, or NULL. */
const NnclOnnx__TensorProto *onnx_tensor(importer *im, const NnclOnnx__NodeProto *n, size_t k);
bool onnx_has_input(const NnclOnnx__NodeProto *n, size_t k);
int64_t onnx_numel(const NnclOnnx__TensorProto *t);
/* Input k as a node: a computed value, or a constant made a parameter
 * named after it (frozen when it is a Constant); NULL if absent. */
nncl_node *onnx_operand(importer *im, const NnclOnnx__NodeProto *n, size_t k);
/* A named value as a node, the same way. */
nncl_node *onnx_slot_node(importer *im, slot *s);

/* Parameters 0, 1, ... of node take the initializers' names and values
 * (NULL entries are skipped, their index kept). */
nncl_status onnx_adopt(importer *im, nncl_node *node, const NnclOnnx__TensorProto *const *tensors,
                       size_t count, const char *label);

/* Ints from input k (a constant) or else attribute `name`: *count -1 when
 * neither is there. At most max. */
nncl_status onnx_ints_from(importer *im, const NnclOnnx__NodeProto *n, size_t k, const char *name,
                           int64_t *out, int max, int *count, const char *label);
/* A float from input k (one value) or attribute `name`, or fallback. */
nncl_status onnx_float_from(importer *im, const NnclOnnx__NodeProto *n, size_t k, const char *name,
                            float fallback, float *out, const char *label);

/* A tensor the import owns: `rank` dims, int64 values (ints) or float
 * values (floats), copied. NULL when out of memory. */
const NnclOnnx__TensorProto *onnx_make_tensor(importer *im, const char *name, const int64_t *dims,
                                              int rank, const int64_t *ints, const float *floats);

/* The indices a Python-style slice start:end:step (any non-zero step,
 * bounds clamped as ONNX's Slice clamps them) visits over a dim of size:
 * their count, or -1 when more than max. */
int64_t onnx_slice_indices(int64_t start, int64_t end, int64_t step, int64_t size, int64_t *idx,
                           int64_t max);

/* A dim index in [-rank, rank) made non-negative, or -1. */
int32_t onnx_axis(int64_t axis, int32_t rank);

/* import_fold.c: evaluates n on the host when its inputs are constants
 * (shape arithmetic: Shape, Gather, Concat, ...); *folded says whether it
 * did. */
nncl_status onnx_fold(importer *im, const NnclOnnx__NodeProto *n, const char *label, bool *folded);

nncl_status onnx_map_conv(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_conv_transpose(importer *, const NnclOnnx__NodeProto *, const char *,
                                    nncl_node **);
nncl_status onnx_map_pool(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_global_pool(importer *, const NnclOnnx__NodeProto *, const char *,
                                 nncl_node **);
nncl_status onnx_map_batch_norm(importer *, const NnclOnnx__NodeProto *, const char *,
                                nncl_node **);
nncl_status onnx_map_instance_norm(importer *, const NnclOnnx__NodeProto *, const char *,
                                   nncl_node **);
nncl_status onnx_map_layer_norm(importer *, const NnclOnnx__NodeProto *, const char *,
                                nncl_node **);
nncl_status onnx_map_lrn(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_unary(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_clip(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_binary(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_variadic(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_gemm(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_prelu(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_softmax(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_reduce(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_argmax(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_one_hot(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_dropout(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_concat(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_split(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_reshape(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_flatten(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_transpose(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_squeeze(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_pad(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_slice(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_gather(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_resize(importer *, const NnclOnnx__NodeProto *, const char *, nncl_node **);
nncl_status onnx_map_class_loss(importer *, const NnclOnnx__NodeProto *, const char *,
                                nncl_node **);

#endif

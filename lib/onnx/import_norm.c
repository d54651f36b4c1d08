/* ONNX's normalisations: BatchNormalization, InstanceNormalization,
 * LayerNormalization (with its Mean and InvStdDev outputs) and LRN. Their
 * scale and bias become the nncl op's weight and bias under the
 * initializers' names. */
#include "importer.h"

#include <stdio.h>
#include <string.h>

/* nncl's batch norm follows the graph's mode (nncl_graph_set_training),
 * not the file's training_mode, and updates its running statistics in
 * place: the extra outputs (running or saved statistics) are not made,
 * and a node reading them finds them missing. */
nncl_status onnx_map_batch_norm(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                nncl_node **out) {
    nncl_node *x = onnx_value(im, n, 0);
    const NnclOnnx__TensorProto *t[4];
    for (int k = 0; k < 4; k++)
        if (!(t[k] = onnx_tensor(im, n, (size_t)k + 1)))
            return onnx_fail(im, label, "scale, B, mean and var must be constants%s", "");
    if (!x) return onnx_fail(im, label, "input 0 must be a computed value%s", "");
    /* ONNX's momentum weighs the old statistics (0.9); PyTorch's the new (0.1). */
    nncl_batch_norm_params p = {.eps = onnx_attr_float(n, "epsilon", 1e-5f),
                                .momentum = 1 - onnx_attr_float(n, "momentum", 0.9f)};
    nncl_node *y = nncl_batch_norm(im->g, x, &p, n->output[0]);
    if (!y) return nncl_graph_status(im->g);
    *out = y; /* weight, bias, running_mean, running_var */
    return onnx_adopt(im, y, t, 4, label);
}

nncl_status onnx_map_instance_norm(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                   nncl_node **out) {
    nncl_node *x = onnx_value(im, n, 0);
    const NnclOnnx__TensorProto *t[2] = {onnx_tensor(im, n, 1), onnx_tensor(im, n, 2)};
    if (!x || !t[0] || !t[1])
        return onnx_fail(im, label, "needs a computed input and constant scale and B%s", "");
    nncl_instance_norm_params p = {.eps = onnx_attr_float(n, "epsilon", 1e-5f), .affine = true};
    nncl_node *y = nncl_instance_norm(im->g, x, &p, n->output[0]);
    if (!y) return nncl_graph_status(im->g);
    *out = y;
    return onnx_adopt(im, y, t, 2, label);
}

/* Mean and 1 / sqrt(var + eps) over the normalised dims, kept as 1s: the
 * optional outputs 1 and 2 of LayerNormalization. */
static nncl_status layer_norm_stats(importer *im, const NnclOnnx__NodeProto *n, nncl_node *x,
                                    int32_t axis, float eps) {
    nncl_graph *g = im->g;
    int32_t rank = nncl_node_shape(x).rank, dims[NNCL_MAX_RANK], count = 0;
    for (int32_t d = axis; d < rank; d++)
        dims[count++] = d;
    nncl_node *mean = nncl_reduce(g, x, NNCL_REDUCE_MEAN, dims, count, true,
                                  n->n_output > 1 && n->output[1][0] ? n->output[1] : NULL);
    nncl_node *centred = mean ? nncl_sub(g, x, mean, NULL) : NULL;
    nncl_node *var = centred ? nncl_reduce(g, nncl_mul(g, centred, centred, NULL), NNCL_REDUCE_MEAN,
                                           dims, count, true, NULL)
                             : NULL;
    nncl_node *inv = NULL;
    if (var && n->n_output > 2 && n->output[2][0])
        inv =
            nncl_reciprocal(g, nncl_sqrt(g, nncl_scale(g, var, 1, eps, NULL), NULL), n->output[2]);
    if (!var || (n->n_output > 2 && n->output[2][0] && !inv)) return nncl_graph_status(g);
    if (n->n_output > 1 && n->output[1][0])
        *onnx_lookup(im, n->output[1]) = (slot){.name = n->output[1], .node = mean};
    if (inv) *onnx_lookup(im, n->output[2]) = (slot){.name = n->output[2], .node = inv};
    return NNCL_OK;
}

nncl_status onnx_map_layer_norm(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                nncl_node **out) {
    nncl_node *x = onnx_value(im, n, 0);
    const NnclOnnx__TensorProto *t[2] = {onnx_tensor(im, n, 1), onnx_tensor(im, n, 2)};
    if (!x || !t[0] || (onnx_has_input(n, 2) && !t[1]))
        return onnx_fail(im, label, "needs a computed input and constant Scale and B%s", "");
    int32_t rank = nncl_node_shape(x).rank, axis = onnx_axis(onnx_attr_int(n, "axis", -1), rank);
    if (axis < 0) return onnx_fail(im, label, "attribute 'axis' is not a dim of the input%s", "");
    float eps = onnx_attr_float(n, "epsilon", 1e-5f);
    nncl_node *y =
        nncl_layer_norm(im->g, x, rank - axis, &(nncl_norm_params){.eps = eps}, n->output[0]);
    if (!y) return nncl_graph_status(im->g);
    *out = y; /* without B the bias stays zero */
    nncl_status st = onnx_adopt(im, y, t, 2, label);
    return st == NNCL_OK && n->n_output > 1 ? layer_norm_stats(im, n, x, axis, eps) : st;
}

/* LRN: ONNX's window spans floor((size-1)/2) channels before and
 * ceil((size-1)/2) after, PyTorch's (nncl's) size/2 before: the same for
 * odd sizes. */
nncl_status onnx_map_lrn(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                         nncl_node **out) {
    nncl_node *x = onnx_value(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 must be a computed value%s", "");
    int64_t size = onnx_attr_int(n, "size", 0);
    if (size < 1 || size % 2 == 0)
        return onnx_fail(im, label,
                         "attribute 'size' must be odd (even windows sit differently in ONNX "
                         "and nncl)%s",
                         "");
    *out = nncl_local_response_norm(im->g, x, size, onnx_attr_float(n, "alpha", 1e-4f),
                                    onnx_attr_float(n, "beta", 0.75f),
                                    onnx_attr_float(n, "bias", 1.0f), n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Cross-entropy and negative log-likelihood over integer labels, PyTorch's
 * CrossEntropyLoss and NLLLoss: class weights, label smoothing, an ignore
 * index and mean / sum / none reduction, for [N, C] scores with labels [N]
 * and PyTorch's K-dimensional case, [N, C, d1, ...] with labels
 * [N, d1, ...] (a class per pixel for segmentation). Mean divides by the
 * summed weights of the positions that count, as PyTorch does. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PYTORCH_IGNORE_INDEX (-100)

typedef struct class_loss_attrs {
    nncl_reduction reduction;
    float smoothing;
    int32_t ignore_index;
    float *class_weights; /* host copy owned by the node, or NULL */
} class_loss_attrs;

static class_loss_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

bool nncl_class_labels_shape(nncl_graph *g, const char *op, const char *name, const nncl_node *x,
                             const nncl_node *labels, nncl_shape *want) {
    char s[128], t[128], u[128];
    *want = (nncl_shape){.rank = x->shape.rank - 1, .dims = {x->shape.dims[0]}};
    for (int32_t d = 2; d < x->shape.rank; d++)
        want->dims[d - 1] = x->shape.dims[d];
    if (labels->is_labels && nncl_shape_equal(labels->shape, *want)) return true;
    nncl_build_fail(g, NNCL_ERROR_SHAPE, op, name,
                    "labels '%s' %s must be labels of shape %s (batch %lld: input %s without its "
                    "class dim)",
                    labels->name, nncl_shape_str(labels->shape, t, sizeof t),
                    nncl_shape_str(*want, u, sizeof u), (long long)want->dims[0],
                    nncl_shape_str(x->shape, s, sizeof s));
    return false;
}

nncl_status nncl_class_labels_valid(const nncl_node *loss, int32_t ignore, const int32_t *labels,
                                    int64_t count) {
    int64_t classes = loss->inputs[0]->shape.dims[1];
    for (int64_t i = 0; i < count; i++)
        if ((labels[i] < 0 || labels[i] >= classes) && labels[i] != ignore)
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "nncl_graph_set_input: label %lld of input '%s' is %d, outside [0, "
                             "%lld) for loss '%s' (ignore index %d)",
                             (long long)i, loss->inputs[1]->name, (int)labels[i],
                             (long long)classes, loss->name, (int)ignore);
    return NNCL_OK;
}

static nncl_node *class_loss(nncl_graph *g, nncl_op_kind op, nncl_node *x, nncl_node *labels,
                             const nncl_loss_params *params, const char *name) {
    const char *op_name = nncl_op_name(op);
    nncl_node *in[2] = {x, labels};
    if (!nncl_builder_ready(g, op_name, in, 2)) return NULL;
    char s[128];
    nncl_loss_params p = params ? *params : (nncl_loss_params){0};
    if (x->shape.rank < 2 || x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, op_name, name,
                               "input '%s' %s must be [N, classes, ...] features", x->name,
                               nncl_shape_str(x->shape, s, sizeof s));
    int64_t classes = x->shape.dims[1];
    nncl_shape want;
    if (!nncl_class_labels_shape(g, op_name, name, x, labels, &want)) return NULL;
    if (p.reduction > NNCL_REDUCTION_NONE || !(p.label_smoothing >= 0 && p.label_smoothing <= 1) ||
        (op == NNCL_OP_NLL_LOSS && p.label_smoothing > 0))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                               "reduction must be mean, sum or none and label_smoothing in [0, "
                               "1] (cross_entropy only)");
    if (p.class_weights && p.n_class_weights != classes)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, op_name, name,
                               "%lld class weights for %lld classes", (long long)p.n_class_weights,
                               (long long)classes);
    for (int64_t c = 0; p.class_weights && c < classes; c++)
        if (!(p.class_weights[c] >= 0 && isfinite(p.class_weights[c])))
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                                   "class weight %lld is %g; weights must be finite and >= 0",
                                   (long long)c, (double)p.class_weights[c]);
    float *weights = NULL;
    if (p.class_weights) {
        weights = malloc((size_t)classes * sizeof *weights);
        if (!weights)
            return nncl_build_fail(g, NNCL_ERROR_OUT_OF_MEMORY, op_name, name, "no memory");
        memcpy(weights, p.class_weights, (size_t)classes * sizeof *weights);
    }
    nncl_shape y = p.reduction == NNCL_REDUCTION_NONE ? want : NNCL_SHAPE(1);
    nncl_node *node = nncl_node_add(g, op, name, in, 2, y);
    if (!node) {
        free(weights);
        return NULL;
    }
    class_loss_attrs *a = node->attrs;
    a->reduction = p.reduction;
    a->smoothing = p.label_smoothing;
    a->ignore_index = p.has_ignore_index ? p.ignore_index : PYTORCH_IGNORE_INDEX;
    a->class_weights = weights;
    return node;
}

nncl_node *nncl_cross_entropy(nncl_graph *g, nncl_node *logits, nncl_node *labels,
                              const nncl_loss_params *params, const char *name) {
    return class_loss(g, NNCL_OP_CROSS_ENTROPY, logits, labels, params, name);
}

nncl_node *nncl_nll_loss(nncl_graph *g, nncl_node *log_probs, nncl_node *labels,
                         const nncl_loss_params *params, const char *name) {
    return class_loss(g, NNCL_OP_NLL_LOSS, log_probs, labels, params, name);
}

/* aux: 0 probabilities, 1 per-position losses, 2 the weight each
 * position counts with, 3 the mean's divisor, 4 the class weights. */
static nncl_status class_loss_plan(nncl_graph *g, nncl_node *node) {
    size_t elements = (size_t)nncl_shape_numel(node->inputs[0]->shape);
    size_t classes = (size_t)node->inputs[0]->shape.dims[1], positions = elements / classes;
    const float *w = attrs_of(node)->class_weights;
    nncl_status st = nncl_node_aux(g, node, 0, elements * sizeof(float));
    if (st == NNCL_OK) st = nncl_node_aux(g, node, 1, positions * sizeof(float));
    if (st == NNCL_OK) st = nncl_node_aux(g, node, 2, positions * sizeof(float));
    if (st == NNCL_OK) st = nncl_node_aux(g, node, 3, sizeof(float));
    if (st == NNCL_OK && w && !node->aux[4]) {
        st = nncl_node_aux(g, node, 4, classes * sizeof(float));
        if (st == NNCL_OK)
            st = nncl_buffer_write(g->ctx, node->aux[4], 0, w, classes * sizeof(float));
    }
    return st;
}

typedef struct class_args {
    cl_mem weights;
    cl_int has_weights, positions, classes, inner, is_ce, ignore;
    cl_float smoothing;
} class_args;

static class_args args_of(const nncl_node *node) {
    class_args a;
    nncl_shape x = node->inputs[0]->shape;
    a.has_weights = attrs_of(node)->class_weights != NULL;
    a.weights = a.has_weights ? node->aux[4] : node->aux[0]; /* any buffer when unused */
    a.classes = (cl_int)x.dims[1];
    a.inner = (cl_int)nncl_shape_inner(x, 2);
    a.positions = (cl_int)x.dims[0] * a.inner;
    a.is_ce = node->op == NNCL_OP_CROSS_ENTROPY;
    a.ignore = attrs_of(node)->ignore_index;
    a.smoothing = attrs_of(node)->smoothing;
    return a;
}

static nncl_status class_loss_forward(nncl_graph *g, nncl_node *node) {
    class_args a = args_of(node);
    bool per_sample = attrs_of(node)->reduction == NNCL_REDUCTION_NONE;
    cl_mem losses = per_sample ? node->out : node->aux[1];
    nncl_status st =
        nncl_launch(g->ctx, "class_loss_forward", (size_t)a.positions,
                    NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->inputs[1]->out),
                              NNCL_ARG(a.weights), NNCL_ARG(a.has_weights), NNCL_ARG(node->aux[0]),
                              NNCL_ARG(losses), NNCL_ARG(node->aux[2]), NNCL_ARG(a.positions),
                              NNCL_ARG(a.classes), NNCL_ARG(a.inner), NNCL_ARG(a.is_ce),
                              NNCL_ARG(a.smoothing), NNCL_ARG(a.ignore)));
    if (st != NNCL_OK || per_sample) return st;
    cl_int mean = attrs_of(node)->reduction == NNCL_REDUCTION_MEAN;
    if ((st = nncl_sum(g->ctx, node->aux[1], (size_t)a.positions, false, 1.0f, node->out, 0)) ||
        (st = nncl_sum(g->ctx, node->aux[2], (size_t)a.positions, false, 1.0f, node->aux[3], 0)))
        return st;
    return nncl_launch(g->ctx, "class_loss_finish", 1,
                       NNCL_ARGS(NNCL_ARG(node->out), NNCL_ARG(node->aux[3]), NNCL_ARG(mean)));
}

static nncl_status class_loss_backward(nncl_graph *g, nncl_node *node) {
    nncl_node *x = node->inputs[0];
    if (!x->requires_grad) return NNCL_OK;
    class_args a = args_of(node);
    cl_int per_position = attrs_of(node)->reduction == NNCL_REDUCTION_NONE;
    cl_int acc = node->accumulate[0], total = a.positions * a.classes;
    return nncl_launch(g->ctx, "class_loss_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->aux[0]), NNCL_ARG(node->inputs[1]->out),
                                 NNCL_ARG(a.weights), NNCL_ARG(a.has_weights), NNCL_ARG(node->grad),
                                 NNCL_ARG(node->aux[3]), NNCL_ARG(x->grad), NNCL_ARG(total),
                                 NNCL_ARG(a.classes), NNCL_ARG(a.inner), NNCL_ARG(a.is_ce),
                                 NNCL_ARG(a.smoothing), NNCL_ARG(a.ignore), NNCL_ARG(per_position),
                                 NNCL_ARG(acc)));
}

/* Backward uses the saved probabilities and the labels. */
static uint32_t class_loss_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(1);
}

/* Labels index the classes: each in [0, classes) or the ignore index. */
static nncl_status class_loss_check_labels(const nncl_node *node, int32_t k, const int32_t *labels,
                                           int64_t count) {
    return k == 1 ? nncl_class_labels_valid(node, attrs_of(node)->ignore_index, labels, count)
                  : NNCL_OK;
}

static void class_loss_release(nncl_node *node) {
    free(attrs_of(node)->class_weights);
}

/* SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss (PyTorch's
 * definitions, ONNX's too); a reduced loss is a scalar there and [1] here,
 * so a Reshape follows. ONNX has no label smoothing. */
static nncl_status class_loss_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const class_loss_attrs *a = attrs_of(node);
    if (a->smoothing > 0) return nncl_ox_refuse(w, node, "ONNX's losses have no label smoothing");
    int64_t classes = node->inputs[0]->shape.dims[1], one = 1;
    bool reduced = a->reduction != NNCL_REDUCTION_NONE;
    const char *in[3] = {
        nncl_ox_value(node->inputs[0]), nncl_ox_value(node->inputs[1]),
        a->class_weights
            ? nncl_ox_const_floats(w, node, "weights", a->class_weights, NNCL_SHAPE(classes))
            : NULL};
    const char *loss = reduced ? nncl_ox_temp(w, node, "scalar") : nncl_ox_value(node);
    int n = nncl_ox_add(
        w, node->op == NNCL_OP_NLL_LOSS ? "NegativeLogLikelihoodLoss" : "SoftmaxCrossEntropyLoss",
        in, a->class_weights ? 3 : 2, loss);
    nncl_ox_string(w, n, "reduction",
                   a->reduction == NNCL_REDUCTION_SUM    ? "sum"
                   : a->reduction == NNCL_REDUCTION_NONE ? "none"
                                                         : "mean");
    nncl_ox_int(w, n, "ignore_index", a->ignore_index);
    if (reduced)
        nncl_ox_add(w, "Reshape",
                    (const char *[]){loss, nncl_ox_const_ints(w, node, "shape", &one, 1)}, 2,
                    nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_class_loss = {.attrs_size = sizeof(class_loss_attrs),
                                           .profile_forward = NNCL_PROFILE_LOSS,
                                           .profile_backward = NNCL_PROFILE_LOSS,
                                           .check_labels = class_loss_check_labels,
                                           .release = class_loss_release,
                                           .plan = class_loss_plan,
                                           .forward = class_loss_forward,
                                           .backward = class_loss_backward,
                                           .saves = class_loss_saves,
                                           .to_onnx = class_loss_to_onnx};

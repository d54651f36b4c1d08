/* Argmax over classes and accuracy against labels, computed on the device
 * so that an eval loop reads back one number (or one label per sample)
 * instead of every logit, and labels as one-hot features. None carries a
 * gradient. */
#include "ops.h"

/* [N, C, ...] features: the class dim and the positions per sample. */
static bool class_features(nncl_graph *g, const char *op, const char *name, const nncl_node *x) {
    char s[128];
    if (x->shape.rank >= 2 && !x->is_labels) return true;
    nncl_build_fail(g, NNCL_ERROR_SHAPE, op, name, "input '%s' %s must be [N, C, ...] features",
                    x->name, nncl_shape_str(x->shape, s, sizeof s));
    return false;
}

/* x's shape without dim 1: one label per sample and position. */
static nncl_shape label_shape(nncl_shape x) {
    nncl_shape s = {.rank = x.rank - 1};
    s.dims[0] = x.dims[0];
    for (int32_t i = 2; i < x.rank; i++)
        s.dims[i - 1] = x.dims[i];
    return s;
}

nncl_node *nncl_argmax(nncl_graph *g, nncl_node *x, const char *name) {
    if (!nncl_builder_ready(g, "argmax", &x, 1) || !class_features(g, "argmax", name, x))
        return NULL;
    nncl_node *node = nncl_node_add(g, NNCL_OP_ARGMAX, name, &x, 1, label_shape(x->shape));
    if (node) node->is_labels = true;
    return node;
}

nncl_node *nncl_accuracy(nncl_graph *g, nncl_node *logits, nncl_node *labels, const char *name) {
    nncl_node *in[2] = {logits, labels};
    if (!nncl_builder_ready(g, "accuracy", in, 2) || !class_features(g, "accuracy", name, logits))
        return NULL;
    if (!labels->is_labels || !nncl_shape_equal(labels->shape, label_shape(logits->shape))) {
        char a[128], b[128];
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "accuracy", name,
                               "labels '%s' %s must be labels of shape %s (the logits' without "
                               "dim 1)",
                               labels->name, nncl_shape_str(labels->shape, a, sizeof a),
                               nncl_shape_str(label_shape(logits->shape), b, sizeof b));
    }
    return nncl_node_add(g, NNCL_OP_ACCURACY, name, in, 2, NNCL_SHAPE(1));
}

nncl_node *nncl_one_hot(nncl_graph *g, nncl_node *labels, int64_t classes, const char *name) {
    if (!nncl_builder_ready(g, "one_hot", &labels, 1)) return NULL;
    char s[128];
    if (!labels->is_labels || labels->shape.rank >= NNCL_MAX_RANK || classes < 1 ||
        classes > INT32_MAX / nncl_shape_numel(labels->shape))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "one_hot", name,
                               "input '%s' %s must be labels of rank below %d, and classes %lld "
                               "in 1 .. 2^31-1 in all",
                               labels->name, nncl_shape_str(labels->shape, s, sizeof s),
                               NNCL_MAX_RANK, (long long)classes);
    nncl_shape y = {.rank = labels->shape.rank + 1, .dims = {labels->shape.dims[0], classes}};
    for (int32_t i = 1; i < labels->shape.rank; i++)
        y.dims[i + 1] = labels->shape.dims[i];
    return nncl_node_add(g, NNCL_OP_ONE_HOT, name, &labels, 1, y);
}

typedef struct rows {
    cl_int channels, inner, rows;
} rows;

static rows rows_of(const nncl_node *x) {
    rows r = {(cl_int)x->shape.dims[1], (cl_int)nncl_shape_inner(x->shape, 2), 0};
    r.rows = (cl_int)(x->shape.dims[0] * r.inner);
    return r;
}

/* aux 0: per position, 1 where the argmax matched. */
static nncl_status metrics_plan(nncl_graph *g, nncl_node *node) {
    if (node->op != NNCL_OP_ACCURACY) return NNCL_OK;
    return nncl_node_aux(g, node, 0, (size_t)rows_of(node->inputs[0]).rows * sizeof(float));
}

static nncl_status metrics_forward(nncl_graph *g, nncl_node *node) {
    nncl_node *x = node->inputs[0];
    if (node->op == NNCL_OP_ONE_HOT) {
        cl_int channels = (cl_int)node->shape.dims[1],
               inner = (cl_int)nncl_shape_inner(node->shape, 2),
               total = (cl_int)nncl_shape_numel(node->shape);
        return nncl_launch(g->ctx, "one_hot", (size_t)total,
                           NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->out), NNCL_ARG(channels),
                                     NNCL_ARG(inner), NNCL_ARG(total)));
    }
    rows r = rows_of(x);
    if (node->op == NNCL_OP_ARGMAX)
        return nncl_launch(g->ctx, "argmax_rows", (size_t)r.rows,
                           NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->out), NNCL_ARG(r.channels),
                                     NNCL_ARG(r.inner), NNCL_ARG(r.rows)));
    nncl_status st = nncl_launch(g->ctx, "argmax_matches", (size_t)r.rows,
                                 NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->inputs[1]->out),
                                           NNCL_ARG(node->aux[0]), NNCL_ARG(r.channels),
                                           NNCL_ARG(r.inner), NNCL_ARG(r.rows)));
    if (st != NNCL_OK) return st;
    return nncl_sum(g->ctx, node->aux[0], (size_t)r.rows, false, 1.0f / (float)r.rows, node->out,
                    0);
}

static nncl_status metrics_backward(nncl_graph *g, nncl_node *node) {
    (void)g;
    (void)node;
    return NNCL_OK; /* never reached: no gradient flows through a metric */
}

/* OneHot(labels) over dim 1 -> out, with C classes. */
static const char *one_hot_onnx(nncl_onnx_writer *w, const nncl_node *node, const char *labels,
                                int64_t classes, const char *out) {
    const float off_on[2] = {0, 1};
    const char *in[3] = {labels, nncl_ox_const_ints(w, node, "depth", &classes, 1),
                         nncl_ox_const_floats(w, node, "off_on", off_on, NNCL_SHAPE(2))};
    nncl_ox_int(w, nncl_ox_add(w, "OneHot", in, 3, out), "axis", 1);
    return out;
}

/* argmax as ArgMax over dim 1 (int64 in ONNX), one_hot as OneHot, and
 * accuracy as the mean over positions of one_hot(argmax) . one_hot(label). */
static nncl_status metrics_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    if (node->op == NNCL_OP_ONE_HOT) {
        one_hot_onnx(w, node, nncl_ox_value(node->inputs[0]), node->shape.dims[1],
                     nncl_ox_value(node));
        return nncl_ox_status(w);
    }
    const char *y =
        node->op == NNCL_OP_ARGMAX ? nncl_ox_value(node) : nncl_ox_temp(w, node, "argmax");
    int n = nncl_ox_add(w, "ArgMax", (const char *[]){nncl_ox_value(node->inputs[0])}, 1, y);
    nncl_ox_int(w, n, "axis", 1);
    nncl_ox_int(w, n, "keepdims", 0);
    if (node->op == NNCL_OP_ARGMAX) return nncl_ox_status(w);
    int64_t classes = node->inputs[0]->shape.dims[1], axis = 1, one = 1;
    const char *predicted = one_hot_onnx(w, node, y, classes, nncl_ox_temp(w, node, "predicted")),
               *truth = one_hot_onnx(w, node, nncl_ox_value(node->inputs[1]), classes,
                                     nncl_ox_temp(w, node, "truth")),
               *both = nncl_ox_temp(w, node, "both"), *right = nncl_ox_temp(w, node, "right"),
               *mean = nncl_ox_temp(w, node, "mean");
    nncl_ox_add(w, "Mul", (const char *[]){predicted, truth}, 2, both);
    nncl_ox_int(w,
                nncl_ox_add(w, "ReduceSum",
                            (const char *[]){both, nncl_ox_const_ints(w, node, "axis", &axis, 1)},
                            2, right),
                "keepdims", 0);
    nncl_ox_int(w, nncl_ox_add(w, "ReduceMean", &right, 1, mean), "keepdims", 0);
    nncl_ox_add(w, "Reshape", (const char *[]){mean, nncl_ox_const_ints(w, node, "shape", &one, 1)},
                2, nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_metrics = {.flags = NNCL_OPFLAG_NO_GRADIENT,
                                        .profile_forward = NNCL_PROFILE_LOSS,
                                        .profile_backward = NNCL_PROFILE_LOSS,
                                        .plan = metrics_plan,
                                        .forward = metrics_forward,
                                        .backward = metrics_backward,
                                        .to_onnx = metrics_to_onnx};

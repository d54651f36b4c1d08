/* Soft Dice loss for segmentation: logits [N, C, d1, ...] against a class
 * per position [N, d1, ...], softmax over C, one Dice score per class over
 * the whole batch, 1 - their (weighted) mean. PyTorch has no Dice loss;
 * the formula is cl/dice.cl's. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct dice_attrs {
    float smooth;
    int32_t ignore_index;
    float *class_weights; /* host copy owned by the node: given, or ones */
} dice_attrs;

static dice_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

nncl_node *nncl_dice_loss(nncl_graph *g, nncl_node *logits, nncl_node *labels,
                          const nncl_loss_params *params, const char *name) {
    nncl_node *in[2] = {logits, labels};
    if (!nncl_builder_ready(g, "dice_loss", in, 2)) return NULL;
    char s[128];
    nncl_loss_params p = params ? *params : (nncl_loss_params){0};
    if (logits->shape.rank < 2 || logits->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "dice_loss", name,
                               "input '%s' %s must be [N, classes, ...] logits", logits->name,
                               nncl_shape_str(logits->shape, s, sizeof s));
    int64_t classes = logits->shape.dims[1];
    nncl_shape want;
    if (!nncl_class_labels_shape(g, "dice_loss", name, logits, labels, &want)) return NULL;
    if (p.reduction != NNCL_REDUCTION_MEAN || p.label_smoothing != 0.0f || p.beta != 0.0f)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "dice_loss", name,
                               "takes only the mean reduction, class weights, an ignore index "
                               "and smooth");
    if (!(p.smooth >= 0.0f) || !isfinite(p.smooth))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "dice_loss", name,
                               "smooth %g must be finite and >= 0", (double)p.smooth);
    if (p.class_weights && p.n_class_weights != classes)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "dice_loss", name,
                               "%lld class weights for %lld classes", (long long)p.n_class_weights,
                               (long long)classes);
    double wsum = 0;
    for (int64_t c = 0; p.class_weights && c < classes; c++) {
        if (!(p.class_weights[c] >= 0 && isfinite(p.class_weights[c])))
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "dice_loss", name,
                                   "class weight %lld is %g; weights must be finite and >= 0",
                                   (long long)c, (double)p.class_weights[c]);
        wsum += p.class_weights[c];
    }
    if (p.class_weights && !(wsum > 0))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "dice_loss", name,
                               "class weights sum to 0");
    float *weights = malloc((size_t)classes * sizeof *weights);
    if (!weights)
        return nncl_build_fail(g, NNCL_ERROR_OUT_OF_MEMORY, "dice_loss", name, "no memory");
    for (int64_t c = 0; c < classes; c++)
        weights[c] = p.class_weights ? p.class_weights[c] : 1.0f;
    nncl_node *node = nncl_node_add(g, NNCL_OP_DICE_LOSS, name, in, 2, NNCL_SHAPE(1));
    if (!node) {
        free(weights);
        return NULL;
    }
    attrs_of(node)->smooth = p.smooth;
    attrs_of(node)->ignore_index = p.has_ignore_index ? p.ignore_index : -100;
    attrs_of(node)->class_weights = weights;
    return node;
}

/* aux: 0 probabilities, 1 per-class sums (3 per class), 2 class weights. */
static nncl_status dice_plan(nncl_graph *g, nncl_node *node) {
    size_t elements = (size_t)nncl_shape_numel(node->inputs[0]->shape);
    size_t classes = (size_t)node->inputs[0]->shape.dims[1];
    nncl_status st = nncl_node_aux(g, node, 0, elements * sizeof(float));
    if (st == NNCL_OK) st = nncl_node_aux(g, node, 1, 3 * classes * sizeof(float));
    if (st == NNCL_OK && !node->aux[2]) {
        st = nncl_node_aux(g, node, 2, classes * sizeof(float));
        if (st == NNCL_OK)
            st = nncl_buffer_write(g->ctx, node->aux[2], 0, attrs_of(node)->class_weights,
                                   classes * sizeof(float));
    }
    return st;
}

typedef struct dice_args {
    cl_int positions, classes, inner, ignore;
    cl_float smooth;
} dice_args;

static dice_args args_of(const nncl_node *node) {
    nncl_shape x = node->inputs[0]->shape;
    dice_args a = {.classes = (cl_int)x.dims[1],
                   .inner = (cl_int)nncl_shape_inner(x, 2),
                   .ignore = attrs_of(node)->ignore_index,
                   .smooth = attrs_of(node)->smooth};
    a.positions = (cl_int)x.dims[0] * a.inner;
    return a;
}

static nncl_status dice_forward(nncl_graph *g, nncl_node *node) {
    dice_args a = args_of(node);
    nncl_status st =
        nncl_launch(g->ctx, "dice_softmax", (size_t)a.positions,
                    NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->aux[0]),
                              NNCL_ARG(a.positions), NNCL_ARG(a.classes), NNCL_ARG(a.inner)));
    if (st == NNCL_OK)
        st = nncl_launch(g->ctx, "dice_class_sums", (size_t)a.classes,
                         NNCL_ARGS(NNCL_ARG(node->aux[0]), NNCL_ARG(node->inputs[1]->out),
                                   NNCL_ARG(node->aux[1]), NNCL_ARG(a.positions),
                                   NNCL_ARG(a.classes), NNCL_ARG(a.inner), NNCL_ARG(a.ignore)));
    if (st != NNCL_OK) return st;
    return nncl_launch(g->ctx, "dice_finish", 1,
                       NNCL_ARGS(NNCL_ARG(node->aux[1]), NNCL_ARG(node->aux[2]),
                                 NNCL_ARG(node->out), NNCL_ARG(a.classes), NNCL_ARG(a.smooth)));
}

static nncl_status dice_backward(nncl_graph *g, nncl_node *node) {
    nncl_node *x = node->inputs[0];
    if (!x->requires_grad) return NNCL_OK;
    dice_args a = args_of(node);
    cl_int acc = node->accumulate[0];
    return nncl_launch(g->ctx, "dice_backward", (size_t)a.positions,
                       NNCL_ARGS(NNCL_ARG(node->aux[0]), NNCL_ARG(node->inputs[1]->out),
                                 NNCL_ARG(node->aux[1]), NNCL_ARG(node->aux[2]),
                                 NNCL_ARG(node->grad), NNCL_ARG(x->grad), NNCL_ARG(a.positions),
                                 NNCL_ARG(a.classes), NNCL_ARG(a.inner), NNCL_ARG(a.smooth),
                                 NNCL_ARG(a.ignore), NNCL_ARG(acc)));
}

/* Backward uses the saved probabilities and sums, and the labels. */
static uint32_t dice_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(1);
}

static nncl_status dice_check_labels(const nncl_node *node, int32_t k, const int32_t *labels,
                                     int64_t count) {
    return k == 1 ? nncl_class_labels_valid(node, attrs_of(node)->ignore_index, labels, count)
                  : NNCL_OK;
}

static void dice_release(nncl_node *node) {
    free(attrs_of(node)->class_weights);
}

/* Written out: p = softmax over C, y = OneHot(labels) (a row of zeros for
 * a label outside [0, C)), the positions counted v (labels other than the
 * ignore index: y's sum over C, or 1 - y at the ignore index when that is
 * a class), sums over all but C of p v y, p v and y v, Dice per class,
 * then 1 - the weighted mean as [1]. */
static nncl_status dice_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const dice_attrs *a = attrs_of(node);
    const nncl_shape x = node->inputs[0]->shape;
    int64_t classes = x.dims[1], one = 1, axes[NNCL_MAX_RANK], n_axes = 0, ignore = a->ignore_index;
    for (int32_t d = 0; d < x.rank; d++)
        if (d != 1) axes[n_axes++] = d;
    const float off_on[2] = {0, 1}, two = 2, unit = 1;
    float weight_sum = 0;
    for (int64_t c = 0; c < classes; c++)
        weight_sum += a->class_weights[c];
    const char *p = nncl_ox_temp(w, node, "p"), *y = nncl_ox_temp(w, node, "y"),
               *v = nncl_ox_temp(w, node, "v"), *pv = nncl_ox_temp(w, node, "pv"),
               *yv = nncl_ox_temp(w, node, "yv"), *pyv = nncl_ox_temp(w, node, "pyv"),
               *inter = nncl_ox_temp(w, node, "inter"), *ps = nncl_ox_temp(w, node, "p_sum"),
               *ys = nncl_ox_temp(w, node, "y_sum"), *num = nncl_ox_temp(w, node, "num"),
               *num_s = nncl_ox_temp(w, node, "num_s"), *den = nncl_ox_temp(w, node, "den"),
               *den_s = nncl_ox_temp(w, node, "den_s"), *dice = nncl_ox_temp(w, node, "dice"),
               *wd = nncl_ox_temp(w, node, "weighted"), *total = nncl_ox_temp(w, node, "total"),
               *mean = nncl_ox_temp(w, node, "mean"), *loss = nncl_ox_temp(w, node, "loss");
    const char *smooth = nncl_ox_const_floats(w, node, "smooth", &a->smooth, (nncl_shape){0}),
               *ones = nncl_ox_const_floats(w, node, "one", &unit, (nncl_shape){0}),
               *channel = nncl_ox_const_ints(w, node, "channel", &one, 1),
               *others = nncl_ox_const_ints(w, node, "others", axes, (int)n_axes);
    nncl_ox_int(w,
                nncl_ox_add(w, "Softmax", (const char *[]){nncl_ox_value(node->inputs[0])}, 1, p),
                "axis", 1);
    const char *oh[3] = {nncl_ox_value(node->inputs[1]),
                         nncl_ox_const_ints(w, node, "depth", &classes, 1),
                         nncl_ox_const_floats(w, node, "off_on", off_on, NNCL_SHAPE(2))};
    nncl_ox_int(w, nncl_ox_add(w, "OneHot", oh, 3, y), "axis", 1);
    if (ignore >= 0 && ignore < classes) {
        int64_t from = ignore, to = ignore + 1;
        const char *at = nncl_ox_temp(w, node, "at_ignore");
        nncl_ox_add(w, "Slice",
                    (const char *[]){y, nncl_ox_const_ints(w, node, "from", &from, 1),
                                     nncl_ox_const_ints(w, node, "to", &to, 1), channel},
                    4, at);
        nncl_ox_add(w, "Sub", (const char *[]){ones, at}, 2, v);
    } else {
        nncl_ox_int(w, nncl_ox_add(w, "ReduceSum", (const char *[]){y, channel}, 2, v), "keepdims",
                    1);
    }
    nncl_ox_add(w, "Mul", (const char *[]){p, v}, 2, pv);
    nncl_ox_add(w, "Mul", (const char *[]){y, v}, 2, yv);
    nncl_ox_add(w, "Mul", (const char *[]){pv, y}, 2, pyv);
    nncl_ox_int(w, nncl_ox_add(w, "ReduceSum", (const char *[]){pyv, others}, 2, inter), "keepdims",
                0);
    nncl_ox_int(w, nncl_ox_add(w, "ReduceSum", (const char *[]){pv, others}, 2, ps), "keepdims", 0);
    nncl_ox_int(w, nncl_ox_add(w, "ReduceSum", (const char *[]){yv, others}, 2, ys), "keepdims", 0);
    nncl_ox_add(
        w, "Mul",
        (const char *[]){inter, nncl_ox_const_floats(w, node, "two", &two, (nncl_shape){0})}, 2,
        num);
    nncl_ox_add(w, "Add", (const char *[]){num, smooth}, 2, num_s);
    nncl_ox_add(w, "Add", (const char *[]){ps, ys}, 2, den);
    nncl_ox_add(w, "Add", (const char *[]){den, smooth}, 2, den_s);
    nncl_ox_add(w, "Div", (const char *[]){num_s, den_s}, 2, dice);
    nncl_ox_add(w, "Mul",
                (const char *[]){dice, nncl_ox_const_floats(w, node, "weights", a->class_weights,
                                                            NNCL_SHAPE(classes))},
                2, wd);
    nncl_ox_int(w, nncl_ox_add(w, "ReduceSum", &wd, 1, total), "keepdims", 0);
    nncl_ox_add(w, "Div",
                (const char *[]){total, nncl_ox_const_floats(w, node, "weight_sum", &weight_sum,
                                                             (nncl_shape){0})},
                2, mean);
    nncl_ox_add(w, "Sub", (const char *[]){ones, mean}, 2, loss);
    nncl_ox_add(w, "Reshape", (const char *[]){loss, nncl_ox_const_ints(w, node, "shape", &one, 1)},
                2, nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_dice_loss = {.attrs_size = sizeof(dice_attrs),
                                          .profile_forward = NNCL_PROFILE_LOSS,
                                          .profile_backward = NNCL_PROFILE_LOSS,
                                          .check_labels = dice_check_labels,
                                          .release = dice_release,
                                          .plan = dice_plan,
                                          .forward = dice_forward,
                                          .backward = dice_backward,
                                          .saves = dice_saves,
                                          .to_onnx = dice_to_onnx};

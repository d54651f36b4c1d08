/* Group norm, instance norm and layer norm, PyTorch's GroupNorm,
 * InstanceNorm1d/2d/3d and LayerNorm: each normalises rows of contiguous
 * values (cl/norm.cl) and differs only in what a row is and what the
 * affine weights index. Instance norm may also track running statistics,
 * which eval mode then uses, as PyTorch's track_running_stats. */
#include "ops.h"

#include <math.h>

typedef struct norm_attrs {
    float eps, momentum;
    bool affine, track;
    int64_t groups;       /* group norm */
    int32_t norm_dims;    /* layer norm: the trailing dims normalised */
    int64_t batches_seen; /* instance norm with running statistics */
} norm_attrs;

static norm_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

/* What a row is for node's op. */
typedef struct norm_rows {
    cl_int total, rows, row_len, affine, channels, inner, weights;
} norm_rows;

static norm_rows rows_of(const nncl_node *node) {
    nncl_shape s = node->shape;
    const norm_attrs *a = attrs_of(node);
    norm_rows r = {.total = (cl_int)nncl_shape_numel(s)};
    if (node->op == NNCL_OP_LAYER_NORM) {
        r.row_len = (cl_int)nncl_shape_inner(s, s.rank - a->norm_dims);
        r.affine = a->affine ? 2 : 0;
        r.weights = r.row_len;
        r.channels = r.inner = 1;
    } else {
        r.channels = (cl_int)s.dims[1];
        r.inner = (cl_int)nncl_shape_inner(s, 2);
        r.row_len =
            node->op == NNCL_OP_GROUP_NORM ? r.channels / (cl_int)a->groups * r.inner : r.inner;
        r.affine = a->affine ? 1 : 0;
        r.weights = r.channels;
    }
    r.rows = r.total / r.row_len;
    return r;
}

static bool check_eps(nncl_graph *g, const char *op, const char *name, float eps, float momentum) {
    if (isfinite(eps) && eps >= 0.0f && isfinite(momentum) && momentum >= 0.0f && momentum <= 1.0f)
        return true;
    nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                    "eps %g must be >= 0 and momentum %g in [0, 1]", (double)eps, (double)momentum);
    return false;
}

static nncl_node *norm_node(nncl_graph *g, nncl_op_kind op, nncl_node *x, norm_attrs a,
                            nncl_shape affine_shape, const char *name) {
    nncl_node *node = nncl_node_add(g, op, name, &x, 1, x->shape);
    if (!node) return NULL;
    *attrs_of(node) = a;
    if (a.affine &&
        (!nncl_param_add(g, node, "weight", affine_shape, true, NNCL_FILL_CONSTANT(1.0f)) ||
         !nncl_param_add(g, node, "bias", affine_shape, true, NNCL_FILL_CONSTANT(0.0f))))
        return NULL;
    if (a.track &&
        (!nncl_param_add(g, node, "running_mean", affine_shape, false, NNCL_FILL_CONSTANT(0.0f)) ||
         !nncl_param_add(g, node, "running_var", affine_shape, false, NNCL_FILL_CONSTANT(1.0f))))
        return NULL;
    return node;
}

static bool features(nncl_graph *g, const char *op, const char *name, const nncl_node *x,
                     int32_t min_rank) {
    char s[128];
    if (!x->is_labels && x->shape.rank >= min_rank) return true;
    nncl_build_fail(g, NNCL_ERROR_SHAPE, op, name, "input '%s' %s must be features of rank >= %d",
                    x->name, nncl_shape_str(x->shape, s, sizeof s), (int)min_rank);
    return false;
}

nncl_node *nncl_group_norm(nncl_graph *g, nncl_node *x, int64_t groups,
                           const nncl_norm_params *params, const char *name) {
    if (!nncl_builder_ready(g, "group_norm", &x, 1)) return NULL;
    nncl_norm_params p = params ? *params : (nncl_norm_params){0};
    char s[128];
    if (!features(g, "group_norm", name, x, 2) || !check_eps(g, "group_norm", name, p.eps, 0.0f))
        return NULL;
    int64_t channels = x->shape.dims[1];
    if (groups <= 0 || channels % groups)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "group_norm", name,
                               "input %s: channels %lld must divide into groups %lld (> 0)",
                               nncl_shape_str(x->shape, s, sizeof s), (long long)channels,
                               (long long)groups);
    norm_attrs a = {.eps = p.eps != 0.0f ? p.eps : 1e-5f, .affine = !p.no_affine, .groups = groups};
    return norm_node(g, NNCL_OP_GROUP_NORM, x, a, NNCL_SHAPE(channels), name);
}

nncl_node *nncl_layer_norm(nncl_graph *g, nncl_node *x, int32_t normalized_dims,
                           const nncl_norm_params *params, const char *name) {
    if (!nncl_builder_ready(g, "layer_norm", &x, 1)) return NULL;
    nncl_norm_params p = params ? *params : (nncl_norm_params){0};
    char s[128];
    if (!features(g, "layer_norm", name, x, 1) || !check_eps(g, "layer_norm", name, p.eps, 0.0f))
        return NULL;
    if (normalized_dims <= 0 || normalized_dims > x->shape.rank)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "layer_norm", name,
                               "input %s: normalized_dims %d must be in 1..%d",
                               nncl_shape_str(x->shape, s, sizeof s), (int)normalized_dims,
                               (int)x->shape.rank);
    nncl_shape w = {.rank = normalized_dims};
    for (int32_t d = 0; d < normalized_dims; d++)
        w.dims[d] = x->shape.dims[x->shape.rank - normalized_dims + d];
    norm_attrs a = {
        .eps = p.eps != 0.0f ? p.eps : 1e-5f, .affine = !p.no_affine, .norm_dims = normalized_dims};
    return norm_node(g, NNCL_OP_LAYER_NORM, x, a, w, name);
}

nncl_node *nncl_instance_norm(nncl_graph *g, nncl_node *x, const nncl_instance_norm_params *params,
                              const char *name) {
    if (!nncl_builder_ready(g, "instance_norm", &x, 1)) return NULL;
    nncl_instance_norm_params p = params ? *params : (nncl_instance_norm_params){0};
    if (!features(g, "instance_norm", name, x, 3) ||
        !check_eps(g, "instance_norm", name, p.eps, p.momentum))
        return NULL;
    norm_attrs a = {.eps = p.eps != 0.0f ? p.eps : 1e-5f,
                    .momentum = p.momentum != 0.0f ? p.momentum : 0.1f,
                    .affine = p.affine,
                    .track = p.track_running_stats};
    return norm_node(g, NNCL_OP_INSTANCE_NORM, x, a, NNCL_SHAPE(x->shape.dims[1]), name);
}

/* aux: 0 mean and 1 1/std per row, 2 the two backward sums per row. */
static nncl_status norm_plan(nncl_graph *g, nncl_node *node) {
    size_t bytes = (size_t)rows_of(node).rows * sizeof(float);
    nncl_status st = nncl_node_aux(g, node, 0, bytes);
    if (st == NNCL_OK) st = nncl_node_aux(g, node, 1, bytes);
    return st == NNCL_OK ? nncl_node_aux(g, node, 2, 2 * bytes) : st;
}

/* Whether the pass uses running statistics (instance norm in eval). */
static bool uses_running(const nncl_node *node) {
    return attrs_of(node)->track && !node->ran_training;
}

/* Affine weight and bias, or any buffer (unused) when there are none. */
static cl_mem weight_of(nncl_graph *g, const nncl_node *node, size_t k) {
    return attrs_of(node)->affine ? nncl_node_param(g, node, k)->value : node->aux[0];
}

static nncl_status norm_forward(nncl_graph *g, nncl_node *node) {
    norm_rows r = rows_of(node);
    norm_attrs *a = attrs_of(node);
    cl_float eps = a->eps, momentum = a->momentum;
    size_t at = a->affine ? 2 : 0; /* running statistics follow the affine parameters */
    nncl_status st;
    if (uses_running(node)) {
        cl_mem rm = nncl_node_param(g, node, at)->value,
               rv = nncl_node_param(g, node, at + 1)->value;
        st = nncl_launch(g->ctx, "row_stats_running", (size_t)r.rows,
                         NNCL_ARGS(NNCL_ARG(rm), NNCL_ARG(rv), NNCL_ARG(node->aux[0]),
                                   NNCL_ARG(node->aux[1]), NNCL_ARG(r.rows), NNCL_ARG(r.channels),
                                   NNCL_ARG(eps)));
    } else {
        if (a->track && r.row_len < 2)
            return nncl_node_fail(node, NNCL_ERROR_SHAPE,
                                  "training with running statistics needs more than one value "
                                  "per instance (rows of %d)",
                                  r.row_len);
        st = nncl_launch_groups(g->ctx, "row_stats", (size_t)r.rows, g->ctx->reduce_size,
                                NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->aux[0]),
                                          NNCL_ARG(node->aux[1]), NNCL_ARG(r.row_len),
                                          NNCL_ARG(eps)));
        if (st == NNCL_OK && a->track) {
            cl_int batch = (cl_int)node->shape.dims[0];
            a->batches_seen++;
            st = nncl_launch(g->ctx, "row_stats_update_running", (size_t)r.channels,
                             NNCL_ARGS(NNCL_ARG(node->aux[0]), NNCL_ARG(node->aux[1]),
                                       NNCL_ARG(nncl_node_param(g, node, at)->value),
                                       NNCL_ARG(nncl_node_param(g, node, at + 1)->value),
                                       NNCL_ARG(batch), NNCL_ARG(r.channels), NNCL_ARG(r.row_len),
                                       NNCL_ARG(eps), NNCL_ARG(momentum)));
        }
    }
    if (st != NNCL_OK) return st;
    cl_mem w = weight_of(g, node, 0), b = weight_of(g, node, 1);
    return nncl_launch(g->ctx, "row_norm_apply", (size_t)r.total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(node->aux[0]), NNCL_ARG(node->aux[1]), NNCL_ARG(w),
                                 NNCL_ARG(b), NNCL_ARG(r.total), NNCL_ARG(r.row_len),
                                 NNCL_ARG(r.affine), NNCL_ARG(r.channels), NNCL_ARG(r.inner)));
}

static nncl_status norm_backward(nncl_graph *g, nncl_node *node) {
    norm_rows r = rows_of(node);
    nncl_node *x = node->inputs[0];
    cl_mem w = weight_of(g, node, 0);
    nncl_status st = NNCL_OK;
    if (attrs_of(node)->affine && nncl_param_learns(nncl_node_param(g, node, 0)))
        st = nncl_launch(g->ctx, "row_norm_affine_grad", (size_t)r.weights,
                         NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->grad), NNCL_ARG(node->aux[0]),
                                   NNCL_ARG(node->aux[1]),
                                   NNCL_ARG(nncl_node_param(g, node, 0)->grad),
                                   NNCL_ARG(nncl_node_param(g, node, 1)->grad), NNCL_ARG(r.weights),
                                   NNCL_ARG(r.total), NNCL_ARG(r.row_len), NNCL_ARG(r.affine),
                                   NNCL_ARG(r.channels), NNCL_ARG(r.inner)));
    if (st != NNCL_OK || !x->requires_grad) return st;
    cl_int batch_stats = !uses_running(node), acc = node->accumulate[0];
    if (batch_stats)
        st = nncl_launch_groups(
            g->ctx, "row_norm_backward_sums", (size_t)r.rows, g->ctx->reduce_size,
            NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->grad), NNCL_ARG(node->aux[0]),
                      NNCL_ARG(node->aux[1]), NNCL_ARG(w), NNCL_ARG(node->aux[2]),
                      NNCL_ARG(r.row_len), NNCL_ARG(r.affine), NNCL_ARG(r.channels),
                      NNCL_ARG(r.inner)));
    if (st != NNCL_OK) return st;
    return nncl_launch(g->ctx, "row_norm_backward_input", (size_t)r.total,
                       NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->grad), NNCL_ARG(node->aux[0]),
                                 NNCL_ARG(node->aux[1]), NNCL_ARG(w), NNCL_ARG(node->aux[2]),
                                 NNCL_ARG(x->grad), NNCL_ARG(r.total), NNCL_ARG(r.row_len),
                                 NNCL_ARG(r.affine), NNCL_ARG(r.channels), NNCL_ARG(r.inner),
                                 NNCL_ARG(batch_stats), NNCL_ARG(acc)));
}

/* Backward normalises the input again from the saved statistics. */
static uint32_t norm_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

/* Instance norm with running statistics counts its batches, as PyTorch. */
static int64_t *norm_counter(nncl_node *node, const char **suffix) {
    if (!attrs_of(node)->track) return NULL;
    *suffix = "num_batches_tracked";
    return &attrs_of(node)->batches_seen;
}

/* The affine weight and bias, or constants 1 and 0 of `shape`. */
static void affine_inputs(nncl_onnx_writer *w, const nncl_node *node, nncl_shape shape,
                          const char **scale, const char **bias) {
    if (attrs_of(node)->affine) {
        *scale = nncl_ox_param(w, node, 0);
        *bias = nncl_ox_param(w, node, 1);
        return;
    }
    int64_t n = nncl_shape_numel(shape);
    float *ones = malloc((size_t)n * sizeof *ones), *zeros = calloc((size_t)n, sizeof *zeros);
    for (int64_t i = 0; ones && i < n; i++)
        ones[i] = 1.0f;
    *scale = ones ? nncl_ox_const_floats(w, node, "scale", ones, shape) : NULL;
    *bias = zeros ? nncl_ox_const_floats(w, node, "B", zeros, shape) : NULL;
    free(ones), free(zeros);
}

/* Group norm: [N, C, ...] as [N, G, rest], instance-normalised per group,
 * then the per-channel weight and bias. */
static void group_norm_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const norm_attrs *a = attrs_of(node);
    nncl_shape s = node->shape;
    int64_t same[NNCL_MAX_RANK], channel[NNCL_MAX_RANK] = {s.dims[1]};
    nncl_ox_reshape_dims(w, node, node->inputs[0], same);
    int64_t view[3] = {same[0], a->groups, -1};
    for (int32_t d = 1; d < s.rank - 1; d++)
        channel[d] = 1;
    float *ones = malloc((size_t)a->groups * sizeof *ones), *zeros = calloc((size_t)a->groups, 4);
    for (int64_t i = 0; ones && i < a->groups; i++)
        ones[i] = 1.0f;
    const char *grouped = nncl_ox_temp(w, node, "grouped"),
               *normed = nncl_ox_temp(w, node, "normed"),
               *back = nncl_ox_temp(w, node, "ungrouped");
    nncl_ox_add(w, "Reshape",
                (const char *[]){nncl_ox_value(node->inputs[0]),
                                 nncl_ox_const_ints(w, node, "group_view", view, 3)},
                2, grouped);
    int n = nncl_ox_add(
        w, "InstanceNormalization",
        (const char *[]){
            grouped,
            ones ? nncl_ox_const_floats(w, node, "ones", ones, NNCL_SHAPE(a->groups)) : NULL,
            zeros ? nncl_ox_const_floats(w, node, "zeros", zeros, NNCL_SHAPE(a->groups)) : NULL},
        3, normed);
    free(ones), free(zeros);
    nncl_ox_float(w, n, "epsilon", a->eps);
    nncl_ox_add(w, "Reshape",
                (const char *[]){normed, nncl_ox_const_ints(w, node, "shape", same, s.rank)}, 2,
                back);
    if (!a->affine) {
        nncl_ox_add(w, "Identity", &back, 1, nncl_ox_value(node));
        return;
    }
    const char *wv = nncl_ox_temp(w, node, "weight_view"), *bv = nncl_ox_temp(w, node, "bias_view"),
               *cshape = nncl_ox_const_ints(w, node, "channel_view", channel, s.rank - 1),
               *scaled = nncl_ox_temp(w, node, "scaled");
    nncl_ox_add(w, "Reshape", (const char *[]){nncl_ox_param(w, node, 0), cshape}, 2, wv);
    nncl_ox_add(w, "Reshape", (const char *[]){nncl_ox_param(w, node, 1), cshape}, 2, bv);
    nncl_ox_add(w, "Mul", (const char *[]){back, wv}, 2, scaled);
    nncl_ox_add(w, "Add", (const char *[]){scaled, bv}, 2, nncl_ox_value(node));
}

/* Layer norm as LayerNormalization (opset 17); instance norm as
 * InstanceNormalization, or, with running statistics (what eval mode
 * uses), as BatchNormalization over them; group norm decomposed. */
static nncl_status norm_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const norm_attrs *a = attrs_of(node);
    nncl_shape s = node->shape;
    const char *x = nncl_ox_value(node->inputs[0]), *scale, *bias;
    if (node->op == NNCL_OP_GROUP_NORM) {
        group_norm_to_onnx(w, node);
        return nncl_ox_status(w);
    }
    if (node->op == NNCL_OP_LAYER_NORM) {
        nncl_shape normed = {.rank = a->norm_dims};
        for (int32_t d = 0; d < a->norm_dims; d++)
            normed.dims[d] = s.dims[s.rank - a->norm_dims + d];
        affine_inputs(w, node, normed, &scale, &bias);
        int n = nncl_ox_add(w, "LayerNormalization", (const char *[]){x, scale, bias}, 3,
                            nncl_ox_value(node));
        nncl_ox_int(w, n, "axis", s.rank - a->norm_dims);
        nncl_ox_float(w, n, "epsilon", a->eps);
        return nncl_ox_status(w);
    }
    affine_inputs(w, node, NNCL_SHAPE(s.dims[1]), &scale, &bias);
    size_t at = a->affine ? 2 : 0;
    int n = a->track ? nncl_ox_add(w, "BatchNormalization",
                                   (const char *[]){x, scale, bias, nncl_ox_param(w, node, at),
                                                    nncl_ox_param(w, node, at + 1)},
                                   5, nncl_ox_value(node))
                     : nncl_ox_add(w, "InstanceNormalization", (const char *[]){x, scale, bias}, 3,
                                   nncl_ox_value(node));
    nncl_ox_float(w, n, "epsilon", a->eps);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_norm = {.attrs_size = sizeof(norm_attrs),
                                     .profile_forward = NNCL_PROFILE_BATCH_NORM,
                                     .profile_backward = NNCL_PROFILE_BATCH_NORM,
                                     .plan = norm_plan,
                                     .forward = norm_forward,
                                     .backward = norm_backward,
                                     .saves = norm_saves,
                                     .counter = norm_counter,
                                     .to_onnx = norm_to_onnx};

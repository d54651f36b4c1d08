/* Attention pooling: learned per-head scores over the positions of
 * [N, C, ...], a softmax over the positions, and the weighted sums of the
 * features, heads side by side: [N, heads * C]. Parameters
 * "<name>.weight" [heads, C] and "<name>.bias" [heads], a Linear(C, heads)
 * scoring each position as PyTorch would write it. The weights of the last
 * forward stay readable (nncl_attention_pool_weights) for plotting. */
#include "ops.h"

typedef struct attn_dims {
    cl_int batch, heads, channels, positions;
} attn_dims;

static attn_dims dims_of(const nncl_node *node) {
    nncl_shape x = node->inputs[0]->shape;
    attn_dims d = {(cl_int)x.dims[0], (cl_int)(node->shape.dims[1] / x.dims[1]), (cl_int)x.dims[1],
                   (cl_int)nncl_shape_inner(x, 2)};
    return d;
}

nncl_node *nncl_attention_pool(nncl_graph *g, nncl_node *x, int64_t heads, const char *name) {
    if (!nncl_builder_ready(g, "attention_pool", &x, 1)) return NULL;
    char s[128];
    if (x->is_labels || x->shape.rank < 3)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "attention_pool", name,
                               "input '%s' %s must be features [N, C, positions...]", x->name,
                               nncl_shape_str(x->shape, s, sizeof s));
    int64_t channels = x->shape.dims[1];
    if (heads <= 0 || heads > INT32_MAX / channels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "attention_pool", name,
                               "heads %lld must be > 0 (and heads * channels below 2^31)",
                               (long long)heads);
    nncl_node *node = nncl_node_add(g, NNCL_OP_ATTENTION_POOL, name, &x, 1,
                                    NNCL_SHAPE(x->shape.dims[0], heads * channels));
    if (!node) return NULL;
    nncl_fill fill = {NNCL_INIT_XAVIER_UNIFORM, 0.0f, channels, heads};
    if (!nncl_param_add(g, node, "weight", NNCL_SHAPE(heads, channels), true, fill) ||
        !nncl_param_add(g, node, "bias", NNCL_SHAPE(heads), true, NNCL_FILL_CONSTANT(0.0f)))
        return NULL;
    return node;
}

/* aux: 0 the attention weights [N, heads, positions], 1 their score
 * gradients in backward. */
static nncl_status attn_plan(nncl_graph *g, nncl_node *node) {
    attn_dims d = dims_of(node);
    size_t bytes = (size_t)d.batch * (size_t)d.heads * (size_t)d.positions * sizeof(float);
    nncl_status st = nncl_node_aux(g, node, 0, bytes);
    return st == NNCL_OK ? nncl_node_aux(g, node, 1, bytes) : st;
}

static nncl_status attn_forward(nncl_graph *g, nncl_node *node) {
    attn_dims d = dims_of(node);
    cl_mem x = node->inputs[0]->out, w = nncl_node_param(g, node, 0)->value,
           b = nncl_node_param(g, node, 1)->value;
    cl_int scores = d.batch * d.heads * d.positions, rows = d.batch * d.heads,
           outs = rows * d.channels;
    nncl_status st = nncl_launch(
        g->ctx, "attn_pool_scores", (size_t)scores,
        NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(w), NNCL_ARG(b), NNCL_ARG(node->aux[0]), NNCL_ARG(scores),
                  NNCL_ARG(d.heads), NNCL_ARG(d.channels), NNCL_ARG(d.positions)));
    if (st == NNCL_OK)
        st = nncl_launch(g->ctx, "attn_pool_softmax", (size_t)rows,
                         NNCL_ARGS(NNCL_ARG(node->aux[0]), NNCL_ARG(rows), NNCL_ARG(d.positions)));
    if (st != NNCL_OK) return st;
    return nncl_launch(g->ctx, "attn_pool_output", (size_t)outs,
                       NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(node->aux[0]), NNCL_ARG(node->out),
                                 NNCL_ARG(outs), NNCL_ARG(d.heads), NNCL_ARG(d.channels),
                                 NNCL_ARG(d.positions)));
}

static nncl_status attn_backward(nncl_graph *g, nncl_node *node) {
    attn_dims d = dims_of(node);
    nncl_node *xn = node->inputs[0];
    nncl_param_entry *w = nncl_node_param(g, node, 0), *b = nncl_node_param(g, node, 1);
    cl_int rows = d.batch * d.heads;
    nncl_status st =
        nncl_launch(g->ctx, "attn_pool_dscores", (size_t)rows,
                    NNCL_ARGS(NNCL_ARG(xn->out), NNCL_ARG(node->aux[0]), NNCL_ARG(node->grad),
                              NNCL_ARG(node->aux[1]), NNCL_ARG(rows), NNCL_ARG(d.heads),
                              NNCL_ARG(d.channels), NNCL_ARG(d.positions)));
    if (st == NNCL_OK && (nncl_param_learns(w) || nncl_param_learns(b)))
        st = nncl_launch(g->ctx, "attn_pool_dweights", (size_t)(d.heads * (d.channels + 1)),
                         NNCL_ARGS(NNCL_ARG(xn->out), NNCL_ARG(node->aux[1]), NNCL_ARG(w->grad),
                                   NNCL_ARG(b->grad), NNCL_ARG(d.batch), NNCL_ARG(d.heads),
                                   NNCL_ARG(d.channels), NNCL_ARG(d.positions)));
    if (st != NNCL_OK || !xn->requires_grad) return st;
    cl_int total = d.batch * d.channels * d.positions, acc = node->accumulate[0];
    return nncl_launch(g->ctx, "attn_pool_dx", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->aux[0]), NNCL_ARG(node->aux[1]),
                                 NNCL_ARG(node->grad), NNCL_ARG(w->value), NNCL_ARG(xn->grad),
                                 NNCL_ARG(total), NNCL_ARG(d.heads), NNCL_ARG(d.channels),
                                 NNCL_ARG(d.positions), NNCL_ARG(acc)));
}

static uint32_t attn_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

/* Scores and weighted sums: two products of heads * C per position. */
static int64_t attn_macs(const nncl_node *node) {
    attn_dims d = dims_of(node);
    return 2 * (int64_t)d.batch * d.heads * d.channels * d.positions;
}

nncl_status nncl_attention_pool_weights(nncl_graph *g, const nncl_node *node, float *out,
                                        size_t bytes) {
    nncl_status st = nncl_graph_check(g, "nncl_attention_pool_weights");
    if (st != NNCL_OK) return st;
    if (!node || node->graph != g || node->op != NNCL_OP_ATTENTION_POOL || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_attention_pool_weights: needs an attention_pool node of this graph "
                         "and an output buffer");
    attn_dims d = dims_of(node);
    size_t want = (size_t)d.batch * (size_t)d.heads * (size_t)d.positions * sizeof(float);
    if (bytes != want)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_attention_pool_weights: node '%s' holds %zu bytes ([%d, %d, %d]), "
                         "got %zu",
                         node->name, want, d.batch, d.heads, d.positions, bytes);
    if (!g->forward_done || !node->aux[0])
        return nncl_fail(NNCL_ERROR_STATE,
                         "nncl_attention_pool_weights: run nncl_graph_forward first");
    return nncl_buffer_read(g->ctx, node->aux[0], 0, out, bytes);
}

/* x viewed as [N, C, P]; scores [N, P, heads] = x^T W^T + b, softmax over
 * P, then x times the weights: [N, C, heads], heads first, flattened. */
static nncl_status attn_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    attn_dims d = dims_of(node);
    int64_t view[3], flat[2], keep_batch[NNCL_MAX_RANK];
    nncl_ox_reshape_dims(w, node, node->inputs[0], keep_batch);
    view[0] = keep_batch[0], view[1] = d.channels, view[2] = d.positions;
    flat[0] = keep_batch[0], flat[1] = node->shape.dims[1];
    const char *xf = nncl_ox_temp(w, node, "x"), *xt = nncl_ox_temp(w, node, "x_t"),
               *wt = nncl_ox_temp(w, node, "weight_t"), *s = nncl_ox_temp(w, node, "scores"),
               *sb = nncl_ox_temp(w, node, "scores_b"), *a = nncl_ox_temp(w, node, "weights"),
               *p = nncl_ox_temp(w, node, "pooled"), *pt = nncl_ox_temp(w, node, "pooled_t"),
               *weight = nncl_ox_param(w, node, 0);
    nncl_ox_add(w, "Reshape",
                (const char *[]){nncl_ox_value(node->inputs[0]),
                                 nncl_ox_const_ints(w, node, "view", view, 3)},
                2, xf);
    nncl_ox_ints(w, nncl_ox_add(w, "Transpose", &xf, 1, xt), "perm", (int64_t[]){0, 2, 1}, 3);
    nncl_ox_add(w, "Transpose", &weight, 1, wt);
    nncl_ox_add(w, "MatMul", (const char *[]){xt, wt}, 2, s);
    nncl_ox_add(w, "Add", (const char *[]){s, nncl_ox_param(w, node, 1)}, 2, sb);
    nncl_ox_int(w, nncl_ox_add(w, "Softmax", &sb, 1, a), "axis", 1);
    nncl_ox_add(w, "MatMul", (const char *[]){xf, a}, 2, p);
    nncl_ox_ints(w, nncl_ox_add(w, "Transpose", &p, 1, pt), "perm", (int64_t[]){0, 2, 1}, 3);
    nncl_ox_add(w, "Reshape", (const char *[]){pt, nncl_ox_const_ints(w, node, "flat", flat, 2)}, 2,
                nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_attention_pool = {.profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                               .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                               .plan = attn_plan,
                                               .forward = attn_forward,
                                               .backward = attn_backward,
                                               .saves = attn_saves,
                                               .macs = attn_macs,
                                               .to_onnx = attn_to_onnx};

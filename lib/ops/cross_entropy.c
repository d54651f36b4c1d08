/* Softmax cross-entropy over integer labels, PyTorch's CrossEntropyLoss
 * with mean reduction: loss = mean_n(logsumexp(x_n) - x_n[label_n]). The
 * probabilities are kept from forward for the gradient (p - onehot) / N. */
#include "../nncl_internal.h"

nncl_node *nncl_cross_entropy(nncl_graph *g, nncl_node *logits, nncl_node *labels,
                              const char *name) {
    nncl_node *in[2] = {logits, labels};
    if (!nncl_builder_ready(g, "cross_entropy", in, 2)) return NULL;
    char s[128];
    if (logits->shape.rank != 2 || logits->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "cross_entropy", name,
                               "logits '%s' %s must be [N, classes] features", logits->name,
                               nncl_shape_str(logits->shape, s, sizeof s));
    if (!labels->is_labels || labels->shape.dims[0] != logits->shape.dims[0])
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "cross_entropy", name,
                               "labels '%s' must be a labels input of batch %lld (logits %s)",
                               labels->name, (long long)logits->shape.dims[0],
                               nncl_shape_str(logits->shape, s, sizeof s));
    return nncl_node_add(g, NNCL_OP_CROSS_ENTROPY, name, in, 2, NNCL_SHAPE(1));
}

static nncl_status ce_plan(nncl_graph *g, nncl_node *node) {
    size_t n = (size_t)nncl_shape_numel(node->inputs[0]->shape) * sizeof(float);
    nncl_status st = NNCL_OK;
    if (!node->aux[0]) st = nncl_buffer_create(g->ctx, n, &node->aux[0]); /* probabilities */
    if (st == NNCL_OK && !node->aux[1])                                   /* per-sample loss */
        st = nncl_buffer_create(g->ctx, (size_t)node->inputs[0]->shape.dims[0] * sizeof(float),
                                &node->aux[1]);
    return st;
}

static nncl_status ce_forward(nncl_graph *g, nncl_node *node) {
    cl_int batch = (cl_int)node->inputs[0]->shape.dims[0];
    cl_int classes = (cl_int)node->inputs[0]->shape.dims[1];
    nncl_status st =
        nncl_launch(g->ctx, "softmax.cl", "cross_entropy_forward", (size_t)batch,
                    NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->inputs[1]->out),
                              NNCL_ARG(node->aux[0]), NNCL_ARG(node->aux[1]), NNCL_ARG(batch),
                              NNCL_ARG(classes)));
    if (st != NNCL_OK) return st;
    return nncl_launch(g->ctx, "softmax.cl", "mean_of", 1,
                       NNCL_ARGS(NNCL_ARG(node->aux[1]), NNCL_ARG(node->out), NNCL_ARG(batch)));
}

static nncl_status ce_backward(nncl_graph *g, nncl_node *node) {
    nncl_node *x = node->inputs[0];
    if (!x->requires_grad) return NNCL_OK;
    cl_int batch = (cl_int)x->shape.dims[0], classes = (cl_int)x->shape.dims[1];
    cl_int acc = node->accumulate[0];
    return nncl_launch(
        g->ctx, "softmax.cl", "cross_entropy_backward", (size_t)batch * (size_t)classes,
        NNCL_ARGS(NNCL_ARG(node->aux[0]), NNCL_ARG(node->inputs[1]->out), NNCL_ARG(node->grad),
                  NNCL_ARG(x->grad), NNCL_ARG(batch), NNCL_ARG(classes), NNCL_ARG(acc)));
}

const nncl_op_vtable nncl_op_cross_entropy = {ce_plan, ce_forward, ce_backward};

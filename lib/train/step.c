/* Whole steps: training (zero, forward, backward, update; one optional
 * read) and eval-mode inference up to one node. */
#include "train.h"

nncl_status nncl_train_step(nncl_graph *g, nncl_optimizer *opt, nncl_node *loss,
                            float *loss_value) {
    if (!g || !opt || !loss)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_train_step: NULL argument");
    nncl_status st = nncl_optimizer_check(opt, "nncl_train_step");
    if (st != NNCL_OK) return st;
    int64_t numel = nncl_shape_numel(loss->shape);
    if (numel != 1)
        return nncl_fail(
            NNCL_ERROR_INVALID_ARGUMENT,
            "nncl_train_step: loss '%s' has %lld elements; it needs a one-element loss "
            "(reduction mean or sum)",
            loss->name, (long long)numel);
    if (opt->g != g)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_train_step: the optimizer belongs to another graph");
    st = nncl_graph_zero_grad(g);
    if (st == NNCL_OK) st = nncl_graph_forward(g);
    if (st == NNCL_OK) st = nncl_graph_backward(g, loss, NULL, 0);
    if (st == NNCL_OK) st = nncl_optimizer_step(opt);
    if (st == NNCL_OK && loss_value) st = nncl_graph_read(g, loss, loss_value, sizeof *loss_value);
    return st;
}

nncl_status nncl_graph_infer(nncl_graph *g, nncl_node *output, float *dst, size_t bytes) {
    if (!g) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_infer: graph is NULL");
    bool training = g->training;
    g->training = false;
    nncl_status st = nncl_graph_forward(g);
    g->training = training;
    return st == NNCL_OK ? nncl_graph_read(g, output, dst, bytes) : st;
}

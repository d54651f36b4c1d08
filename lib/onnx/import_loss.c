/* ONNX's class losses, SoftmaxCrossEntropyLoss and
 * NegativeLogLikelihoodLoss, as nncl's cross_entropy and nll_loss: labels
 * from an int graph input, class weights from a constant, ignore_index,
 * and the mean / sum / none reductions. */
#include "importer.h"

#include <stdlib.h>
#include <string.h>

nncl_status onnx_map_class_loss(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0), *labels = onnx_value(im, n, 1);
    const NnclOnnx__TensorProto *w = onnx_tensor(im, n, 2);
    if (!x || !labels || !nncl_node_holds_ints(labels))
        return onnx_fail(im, label, "needs scores and int labels computed or given as inputs%s",
                         "");
    if (onnx_has_input(n, 2) && !w)
        return onnx_fail(im, label, "the class weights must be a constant%s", "");
    char buf[16];
    const char *reduction = onnx_attr_string(n, "reduction", "mean", buf, sizeof buf);
    nncl_loss_params p = {.reduction = !strcmp(reduction, "sum")    ? NNCL_REDUCTION_SUM
                                       : !strcmp(reduction, "none") ? NNCL_REDUCTION_NONE
                                                                    : NNCL_REDUCTION_MEAN};
    if (p.reduction == NNCL_REDUCTION_MEAN && strcmp(reduction, "mean"))
        return onnx_fail(im, label, "attribute 'reduction' is '%s'", reduction);
    const NnclOnnx__AttributeProto *ignore = onnx_attr(n, "ignore_index");
    if (ignore) {
        if (!ignore->has_i || ignore->i < INT32_MIN || ignore->i > INT32_MAX)
            return onnx_fail(im, label, "attribute 'ignore_index' must be an int32%s", "");
        p.has_ignore_index = true;
        p.ignore_index = (int32_t)ignore->i;
    }
    float *weights = NULL;
    nncl_status st = w ? nncl_onnx_tensor_floats(w, &weights, &p.n_class_weights) : NNCL_OK;
    if (st != NNCL_OK) return st;
    p.class_weights = weights;
    bool sce = !strcmp(n->op_type, "SoftmaxCrossEntropyLoss");
    nncl_node *y = sce ? nncl_cross_entropy(im->g, x, labels, &p, n->output[0])
                       : nncl_nll_loss(im->g, x, labels, &p, n->output[0]);
    free(weights);
    if (!y) return nncl_graph_status(im->g);
    *out = y;
    if (sce && n->n_output > 1 && n->output[1][0]) { /* log_prob */
        nncl_node *lp = nncl_log_softmax(im->g, x, n->output[1]);
        if (!lp) return nncl_graph_status(im->g);
        *onnx_lookup(im, n->output[1]) = (slot){.name = n->output[1], .node = lp};
    }
    return NNCL_OK;
}

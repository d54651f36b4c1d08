/* Elementwise add, sub, mul, div, pow, maximum and minimum with PyTorch's broadcasting (dims
 * aligned from the end, each pair equal or one of them 1). add of two
 * equal shapes stays nncl_add's plain sum (add.c); these cover the rest. */
#include "ops.h"

#include <math.h>

typedef struct binary_attrs {
    int32_t op; /* 0 add, 1 sub, 2 mul, 3 div, 4 pow, 5 maximum, 6 minimum, as cl/binary.cl */
} binary_attrs;

static const char *const op_names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};

/* The broadcast shape of a and b, or false. */
static bool broadcast(nncl_shape a, nncl_shape b, nncl_shape *out) {
    int32_t rank = a.rank > b.rank ? a.rank : b.rank;
    out->rank = rank;
    for (int32_t k = 0; k < rank; k++) {
        int32_t ka = k - (rank - a.rank), kb = k - (rank - b.rank);
        int64_t da = ka >= 0 ? a.dims[ka] : 1, db = kb >= 0 ? b.dims[kb] : 1;
        if (da != db && da != 1 && db != 1) return false;
        out->dims[k] = da > db ? da : db;
    }
    return true;
}

nncl_node *nncl_binary(nncl_graph *g, int32_t op, nncl_node *a, nncl_node *b, const char *name) {
    const char *op_name = op_names[op];
    nncl_node *in[2] = {a, b};
    if (!nncl_builder_ready(g, op_name, in, 2)) return NULL;
    char sa[128], sb[128];
    nncl_shape y;
    if (a->is_labels || b->is_labels || !broadcast(a->shape, b->shape, &y))
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, op_name, name,
                               "inputs '%s' %s and '%s' %s must be features whose shapes "
                               "broadcast (each dim from the end equal, or one of them 1)",
                               a->name, nncl_shape_str(a->shape, sa, sizeof sa), b->name,
                               nncl_shape_str(b->shape, sb, sizeof sb));
    nncl_node *node = nncl_node_add(g, NNCL_OP_BINARY, name, in, 2, y);
    if (node) ((binary_attrs *)node->attrs)->op = op;
    return node;
}

nncl_node *nncl_sub(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name) {
    return nncl_binary(g, 1, a, b, name);
}

nncl_node *nncl_mul(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name) {
    return nncl_binary(g, 2, a, b, name);
}

nncl_node *nncl_div(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name) {
    return nncl_binary(g, 3, a, b, name);
}

nncl_node *nncl_pow(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name) {
    return nncl_binary(g, 4, a, b, name);
}

nncl_node *nncl_maximum(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name) {
    return nncl_binary(g, 5, a, b, name);
}

nncl_node *nncl_minimum(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name) {
    return nncl_binary(g, 6, a, b, name);
}

/* An operand's strides over the output's dims, 0 where it broadcasts. */
static cl_int8 strides_over(nncl_shape operand, nncl_shape out) {
    cl_int8 s = {{0}};
    int64_t step = 1;
    for (int32_t k = out.rank - 1; k >= 0; k--) {
        int32_t ko = k - (out.rank - operand.rank);
        int64_t size = ko >= 0 ? operand.dims[ko] : 1;
        s.s[k] = size == 1 ? 0 : (cl_int)step;
        step *= size;
    }
    return s;
}

static cl_int8 dims_of(nncl_shape s) {
    cl_int8 d = {{1, 1, 1, 1, 1, 1, 1, 1}};
    for (int32_t k = 0; k < s.rank; k++)
        d.s[k] = (cl_int)s.dims[k];
    return d;
}

static nncl_status binary_forward(nncl_graph *g, nncl_node *node) {
    cl_int total = (cl_int)nncl_shape_numel(node->shape), rank = node->shape.rank,
           op = ((const binary_attrs *)node->attrs)->op;
    cl_int8 d = dims_of(node->shape), sa = strides_over(node->inputs[0]->shape, node->shape),
            sb = strides_over(node->inputs[1]->shape, node->shape);
    return nncl_launch(g->ctx, "binary_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->inputs[1]->out),
                                 NNCL_ARG(node->out), NNCL_ARG(total), NNCL_ARG(d), NNCL_ARG(sa),
                                 NNCL_ARG(sb), NNCL_ARG(rank), NNCL_ARG(op)));
}

static nncl_status binary_backward(nncl_graph *g, nncl_node *node) {
    cl_int rank = node->shape.rank, op = ((const binary_attrs *)node->attrs)->op;
    cl_int8 d = dims_of(node->shape), sa = strides_over(node->inputs[0]->shape, node->shape),
            sb = strides_over(node->inputs[1]->shape, node->shape);
    nncl_status st = NNCL_OK;
    for (cl_int which = 0; which < 2 && st == NNCL_OK; which++) {
        nncl_node *x = node->inputs[which];
        if (!x->requires_grad) continue;
        cl_int total = (cl_int)nncl_shape_numel(x->shape), acc = node->accumulate[which];
        st = nncl_launch(g->ctx, "binary_backward", (size_t)total,
                         NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->inputs[1]->out),
                                   NNCL_ARG(node->grad), NNCL_ARG(x->grad), NNCL_ARG(total),
                                   NNCL_ARG(d), NNCL_ARG(sa), NNCL_ARG(sb), NNCL_ARG(rank),
                                   NNCL_ARG(op), NNCL_ARG(which), NNCL_ARG(acc)));
    }
    return st;
}

/* add and sub need neither value; the others read both. */
static uint32_t binary_saves(const nncl_node *node) {
    return ((const binary_attrs *)node->attrs)->op >= 2 ? NNCL_SAVES_INPUT(0) | NNCL_SAVES_INPUT(1)
                                                        : 0;
}

static nncl_status binary_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    static const char *const onnx_ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"};
    const char *in[2] = {nncl_ox_value(node->inputs[0]), nncl_ox_value(node->inputs[1])};
    nncl_ox_add(w, onnx_ops[((const binary_attrs *)node->attrs)->op], in, 2, nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_binary = {.attrs_size = sizeof(binary_attrs),
                                       .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                       .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                       .forward = binary_forward,
                                       .backward = binary_backward,
                                       .saves = binary_saves,
                                       .to_onnx = binary_to_onnx};

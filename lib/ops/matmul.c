/* Matrix products, PyTorch's torch.matmul for operands of rank >= 2:
 * [..., M, K] x [..., K, N] -> [..., M, N], the leading (batch) dims
 * broadcast. One GEMM per batch entry, on whichever GEMM path the context
 * uses. Gram matrices (style transfer) and attention scores are written
 * with it and nncl_transpose. */
#include "ops.h"

/* Leading dims of a and b broadcast into `batch` (rank out - 2). */
static bool batch_shape(nncl_shape a, nncl_shape b, nncl_shape *out) {
    int32_t ra = a.rank - 2, rb = b.rank - 2, rank = ra > rb ? ra : rb;
    out->rank = rank;
    for (int32_t k = 0; k < rank; k++) {
        int32_t ka = k - (rank - ra), kb = k - (rank - rb);
        int64_t da = ka >= 0 ? a.dims[ka] : 1, db = kb >= 0 ? b.dims[kb] : 1;
        if (da != db && da != 1 && db != 1) return false;
        out->dims[k] = da > db ? da : db;
    }
    return true;
}

nncl_node *nncl_matmul(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name) {
    nncl_node *in[2] = {a, b};
    if (!nncl_builder_ready(g, "matmul", in, 2)) return NULL;
    char sa[128], sb[128];
    nncl_shape batch, y;
    bool ok = !a->is_labels && !b->is_labels && a->shape.rank >= 2 && b->shape.rank >= 2 &&
              a->shape.dims[a->shape.rank - 1] == b->shape.dims[b->shape.rank - 2] &&
              batch_shape(a->shape, b->shape, &batch);
    if (!ok)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "matmul", name,
                               "inputs '%s' %s and '%s' %s must be [..., M, K] and [..., K, N] "
                               "features with broadcastable leading dims",
                               a->name, nncl_shape_str(a->shape, sa, sizeof sa), b->name,
                               nncl_shape_str(b->shape, sb, sizeof sb));
    y = batch;
    y.rank = batch.rank + 2;
    y.dims[batch.rank] = a->shape.dims[a->shape.rank - 2];
    y.dims[batch.rank + 1] = b->shape.dims[b->shape.rank - 1];
    return nncl_node_add(g, NNCL_OP_MATMUL, name, in, 2, y);
}

typedef struct mm_dims {
    size_t m, k, n, batches;
} mm_dims;

static mm_dims dims_of(const nncl_node *node) {
    nncl_shape a = node->inputs[0]->shape, y = node->shape;
    mm_dims d = {(size_t)a.dims[a.rank - 2], (size_t)a.dims[a.rank - 1], (size_t)y.dims[y.rank - 1],
                 (size_t)nncl_shape_numel(y)};
    d.batches /= d.m * d.n;
    return d;
}

/* Which matrix of operand `x` batch entry t of the output reads. */
static size_t matrix_of(nncl_shape x, nncl_shape y, size_t t) {
    int32_t brank = y.rank - 2, xrank = x.rank - 2;
    size_t index = 0, step = 1;
    for (int32_t k = brank - 1; k >= 0; k--) {
        size_t c = t % (size_t)y.dims[k];
        t /= (size_t)y.dims[k];
        int32_t kx = k - (brank - xrank);
        if (kx < 0) continue;
        if (x.dims[kx] != 1) index += c * step;
        step *= (size_t)x.dims[kx];
    }
    return index;
}

static nncl_status matmul_forward(nncl_graph *g, nncl_node *node) {
    mm_dims d = dims_of(node);
    nncl_node *a = node->inputs[0], *b = node->inputs[1];
    nncl_status st = NNCL_OK;
    for (size_t t = 0; t < d.batches && st == NNCL_OK; t++)
        st = nncl_gemm(g->ctx, false, false, d.m, d.n, d.k, 1.0f, a->out,
                       matrix_of(a->shape, node->shape, t) * d.m * d.k, d.k, b->out,
                       matrix_of(b->shape, node->shape, t) * d.k * d.n, d.n, 0.0f, node->out,
                       t * d.m * d.n, d.n);
    return st;
}

/* dA = dY B^T and dB = A^T dY per batch entry; an operand shared by
 * several entries sums their contributions, so its gradient is cleared
 * first unless another consumer already wrote it. */
static nncl_status matmul_backward(nncl_graph *g, nncl_node *node) {
    mm_dims d = dims_of(node);
    nncl_node *a = node->inputs[0], *b = node->inputs[1];
    nncl_status st = NNCL_OK;
    for (int which = 0; which < 2 && st == NNCL_OK; which++) {
        nncl_node *x = node->inputs[which];
        if (!x->requires_grad) continue;
        if (!node->accumulate[which])
            st = nncl_buffer_fill(g->ctx, x->grad, 0.0f, (size_t)nncl_shape_numel(x->shape));
        for (size_t t = 0; t < d.batches && st == NNCL_OK; t++) {
            size_t ia = matrix_of(a->shape, node->shape, t) * d.m * d.k;
            size_t ib = matrix_of(b->shape, node->shape, t) * d.k * d.n, iy = t * d.m * d.n;
            st = which == 0 ? nncl_gemm(g->ctx, false, true, d.m, d.k, d.n, 1.0f, node->grad, iy,
                                        d.n, b->out, ib, d.n, 1.0f, a->grad, ia, d.k)
                            : nncl_gemm(g->ctx, true, false, d.k, d.n, d.m, 1.0f, a->out, ia, d.k,
                                        node->grad, iy, d.n, 1.0f, b->grad, ib, d.n);
        }
    }
    return st;
}

static uint32_t matmul_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0) | NNCL_SAVES_INPUT(1);
}

static int64_t matmul_macs(const nncl_node *node) {
    mm_dims d = dims_of(node);
    return (int64_t)(d.batches * d.m * d.n * d.k);
}

static nncl_status matmul_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const char *in[2] = {nncl_ox_value(node->inputs[0]), nncl_ox_value(node->inputs[1])};
    nncl_ox_add(w, "MatMul", in, 2, nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_matmul = {.profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                       .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                       .forward = matmul_forward,
                                       .backward = matmul_backward,
                                       .saves = matmul_saves,
                                       .macs = matmul_macs,
                                       .to_onnx = matmul_to_onnx};

/* Constant folding at import: nodes whose inputs are all constants (the
 * shape arithmetic exporters write around Reshape: Shape, Gather,
 * Unsqueeze, Concat, Transpose, ...) are evaluated here on the host, and their
 * outputs become constants for the nodes that read them. Shape folds
 * whenever its input's shape is known, which at import it always is. */
#include "../runtime/checked.h"
#include "importer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FOLD_MAX_RANK = 8, FOLD_MAX_INPUTS = 16 };

typedef struct host_tensor {
    int rank;
    int64_t dims[FOLD_MAX_RANK];
    int64_t numel;
    double *v;
    bool ints;
} host_tensor;

static bool is_int_type(int32_t type) {
    return type != NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
           type != NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE &&
           type != NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
}

/* A value as an int64 within +-2^60 (NaN as 0): the conversion itself
 * is undefined beyond int64's range, and bounds stay clamped anyway. */
static int64_t as_int(double v) {
    return v >= 0x1p60    ? (int64_t)1 << 60
           : v <= -0x1p60 ? -((int64_t)1 << 60)
           : v == v       ? (int64_t)v
                          : 0;
}

/* Folded tensors stay small: they are shapes, indices and fill values. */
enum { FOLD_MAX_ELEMENTS = 1 << 24 };

/* Counts t's elements (every dim >= 0, at most FOLD_MAX_ELEMENTS in all,
 * else false with numel -1) and allocates its values (false when out of
 * memory). */
static bool alloc_values(host_tensor *t) {
    t->numel = 1;
    for (int d = 0; d < t->rank; d++) {
        if (t->dims[d] < 0 || (t->dims[d] && t->numel > FOLD_MAX_ELEMENTS / t->dims[d])) {
            t->numel = -1;
            return false;
        }
        t->numel *= t->dims[d];
    }
    t->v = calloc((size_t)t->numel + 1, sizeof *t->v);
    return t->v != NULL;
}

/* alloc_values with the error it calls for. */
static nncl_status sized(importer *im, const char *label, host_tensor *t) {
    if (alloc_values(t)) return NNCL_OK;
    if (t->numel >= 0) return onnx_no_memory(im);
    char msg[96];
    snprintf(msg, sizeof msg,
             "a constant it computes has a negative dim or more than %d elements%%s",
             FOLD_MAX_ELEMENTS);
    return onnx_fail(im, label, msg, "");
}

static nncl_status load(importer *im, const char *label, const NnclOnnx__TensorProto *p,
                        host_tensor *t) {
    if (p->n_dims > FOLD_MAX_RANK) return onnx_no_memory(im);
    t->rank = (int)p->n_dims;
    for (int d = 0; d < t->rank; d++)
        t->dims[d] = p->dims[d];
    t->ints = is_int_type(p->data_type);
    nncl_status st = sized(im, label, t);
    if (st != NNCL_OK) return st;
    int64_t count;
    if (t->ints) {
        int64_t *v;
        if ((st = nncl_onnx_tensor_ints(p, &v, &count)) != NNCL_OK) return st;
        for (int64_t i = 0; i < count; i++)
            t->v[i] = (double)v[i];
        free(v);
    } else {
        float *v;
        if ((st = nncl_onnx_tensor_floats(p, &v, &count)) != NNCL_OK) return st;
        for (int64_t i = 0; i < count; i++)
            t->v[i] = v[i];
        free(v);
    }
    return NNCL_OK;
}

/* The output as a tensor the import owns, bound to the output's name. */
static nncl_status store(importer *im, const char *name, const host_tensor *t) {
    int64_t *ints = t->ints ? malloc((size_t)t->numel * sizeof *ints + 1) : NULL;
    float *floats = t->ints ? NULL : malloc((size_t)t->numel * sizeof *floats + 1);
    if (!ints && !floats) return onnx_no_memory(im);
    for (int64_t i = 0; i < t->numel; i++)
        if (ints)
            ints[i] = as_int(t->v[i]);
        else
            floats[i] = (float)t->v[i];
    const NnclOnnx__TensorProto *made = onnx_make_tensor(im, name, t->dims, t->rank, ints, floats);
    free(ints), free(floats);
    if (!made) return onnx_no_memory(im);
    *onnx_lookup(im, name) = (slot){.name = name, .tensor = made, .constant = true};
    return NNCL_OK;
}

static int64_t stride_after(const host_tensor *t, int axis) {
    int64_t s = 1;
    for (int d = axis + 1; d < t->rank; d++)
        s *= t->dims[d];
    return s;
}

/* Elements idx of t along axis (indices already in range). */
static bool take(const host_tensor *t, int axis, const int64_t *idx, int64_t count,
                 host_tensor *y) {
    *y = (host_tensor){.rank = t->rank, .ints = t->ints};
    memcpy(y->dims, t->dims, sizeof t->dims);
    y->dims[axis] = count;
    if (!alloc_values(y)) return false;
    int64_t inner = stride_after(t, axis),
            outer = t->numel / (inner * t->dims[axis] + !t->dims[axis]);
    for (int64_t o = 0, at = 0; o < outer; o++)
        for (int64_t i = 0; i < count; i++)
            for (int64_t k = 0; k < inner; k++)
                y->v[at++] = t->v[(o * t->dims[axis] + idx[i]) * inner + k];
    return true;
}

static double arith(const char *op, double a, double b, bool ints) {
    if (!strcmp(op, "Equal")) return a == b;
    if (!strcmp(op, "Add")) return a + b;
    if (!strcmp(op, "Sub")) return a - b;
    if (!strcmp(op, "Mul")) return a * b;
    return ints ? (b != 0 ? trunc(a / b) : 0) : a / b;
}

static nncl_status fold_node(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             host_tensor *in, size_t n_in, host_tensor *y) {
    const char *op = n->op_type;
    host_tensor *x = &in[0];
    nncl_status st;
    if (!strcmp(op, "Identity") || !strcmp(op, "Cast")) {
        *y = *x;
        x->v = NULL;
        if (!strcmp(op, "Cast")) {
            y->ints = is_int_type((int32_t)onnx_attr_int(n, "to", 1));
            for (int64_t i = 0; y->ints && i < y->numel; i++)
                y->v[i] = trunc(y->v[i]);
        }
        return NNCL_OK;
    }
    if (!strcmp(op, "ConstantOfShape")) {
        const NnclOnnx__AttributeProto *value = onnx_attr(n, "value");
        *y = (host_tensor){.rank = (int)x->numel};
        if (x->numel > FOLD_MAX_RANK) return onnx_fail(im, label, "more than 8 dims%s", "");
        for (int d = 0; d < y->rank; d++)
            y->dims[d] = as_int(x->v[d]);
        if ((st = sized(im, label, y)) != NNCL_OK) return st;
        if (value && value->t) {
            host_tensor fill = {0};
            st = load(im, label, value->t, &fill);
            double v = st == NNCL_OK && fill.numel ? fill.v[0] : 0;
            y->ints = fill.ints;
            free(fill.v);
            if (st != NNCL_OK) return st;
            for (int64_t i = 0; i < y->numel; i++)
                y->v[i] = v;
        }
        return NNCL_OK;
    }
    if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze") || !strcmp(op, "Reshape")) {
        int64_t axes[FOLD_MAX_RANK] = {0};
        int na = 0;
        if (n_in > 1) {
            na = (int)(in[1].numel < FOLD_MAX_RANK ? in[1].numel : FOLD_MAX_RANK);
            for (int i = 0; i < na; i++)
                axes[i] = as_int(in[1].v[i]);
        } else {
            na = onnx_attr_ints(n, "axes", axes, FOLD_MAX_RANK);
        }
        *y = *x;
        x->v = NULL;
        if (!strcmp(op, "Reshape")) {
            int64_t known = 1, infer = -1;
            y->rank = na;
            for (int d = 0; d < na; d++) {
                y->dims[d] = axes[d] == 0 && d < x->rank ? x->dims[d] : axes[d];
                if (y->dims[d] == -1 && infer < 0)
                    infer = d;
                else if (!nncl_mul_i64(known, y->dims[d], &known)) {
                    char why[160];
                    snprintf(why, sizeof why,
                             "shape dim %d is %lld: dims are -1 (once), 0 or positive, with a "
                             "product that fits in 64 bits",
                             d, (long long)y->dims[d]);
                    return onnx_fail(im, label, "%s", why);
                }
            }
            if (infer >= 0 && known > 0) y->dims[infer] = y->numel / known;
        } else if (!strcmp(op, "Unsqueeze")) {
            int rank = x->rank + na;
            bool marked[FOLD_MAX_RANK * 2] = {false};
            for (int i = 0; i < na; i++)
                if (rank <= FOLD_MAX_RANK && onnx_axis(axes[i], rank) >= 0)
                    marked[onnx_axis(axes[i], rank)] = true;
            if (rank > FOLD_MAX_RANK) return onnx_fail(im, label, "more than 8 dims%s", "");
            for (int d = 0, k = 0; d < rank; d++)
                y->dims[d] = marked[d] ? 1 : x->dims[k++];
            y->rank = rank;
        } else {
            int rank = 0;
            for (int d = 0; d < x->rank; d++) {
                bool drop = false;
                for (int i = 0; i < na; i++)
                    drop |= onnx_axis(axes[i], x->rank) == d;
                if (!(na ? drop : x->dims[d] == 1)) y->dims[rank++] = x->dims[d];
            }
            y->rank = rank;
        }
        int64_t numel;
        return nncl_product_i64(y->dims, y->rank, &numel) && numel == y->numel
                   ? NNCL_OK
                   : onnx_fail(im, label, "the shape does not keep the size%s", "");
    }
    if (!strcmp(op, "Gather")) {
        int axis = onnx_axis(onnx_attr_int(n, "axis", 0), x->rank);
        if (axis < 0 || n_in < 2)
            return onnx_fail(im, label, "axis is not a dim of the data%s", "");
        int64_t *idx = malloc((size_t)in[1].numel * sizeof *idx + 1);
        if (!idx) return onnx_no_memory(im);
        for (int64_t i = 0; i < in[1].numel; i++) {
            idx[i] = as_int(in[1].v[i]);
            if (idx[i] < 0) idx[i] += x->dims[axis];
            if (idx[i] < 0 || idx[i] >= x->dims[axis]) {
                free(idx);
                return onnx_fail(im, label, "an index is outside the axis%s", "");
            }
        }
        bool ok = take(x, axis, idx, in[1].numel, y);
        free(idx);
        if (!ok) return onnx_no_memory(im);
        int rank = x->rank - 1 + in[1].rank;
        if (rank > FOLD_MAX_RANK) return onnx_fail(im, label, "more than 8 dims%s", "");
        for (int d = 0, k = 0; d < x->rank; d++) {
            if (d == axis)
                for (int j = 0; j < in[1].rank; j++)
                    y->dims[k++] = in[1].dims[j];
            else
                y->dims[k++] = x->dims[d];
        }
        y->rank = rank;
        return NNCL_OK;
    }
    if (!strcmp(op, "Concat")) {
        int axis = onnx_axis(onnx_attr_int(n, "axis", 0), x->rank);
        if (axis < 0) return onnx_fail(im, label, "axis is not a dim of input 0%s", "");
        *y = (host_tensor){.rank = x->rank, .ints = x->ints};
        memcpy(y->dims, x->dims, sizeof x->dims);
        y->dims[axis] = 0;
        for (size_t k = 0; k < n_in; k++) {
            bool same = in[k].rank == x->rank;
            for (int d = 0; same && d < x->rank; d++)
                same = d == axis || in[k].dims[d] == x->dims[d];
            if (!same) return onnx_fail(im, label, "the inputs' dims differ off the axis%s", "");
            y->dims[axis] += in[k].dims[axis];
        }
        if ((st = sized(im, label, y)) != NNCL_OK) return st;
        int64_t inner = stride_after(x, axis), outer = 1, at = 0;
        for (int d = 0; d < axis; d++)
            outer *= x->dims[d];
        for (int64_t o = 0; o < outer; o++)
            for (size_t k = 0; k < n_in; k++)
                for (int64_t i = 0; i < in[k].dims[axis] * inner; i++)
                    y->v[at++] = in[k].v[o * in[k].dims[axis] * inner + i];
        return NNCL_OK;
    }
    if (!strcmp(op, "Slice")) {
        if (n_in < 3 || x->rank < 1)
            return onnx_fail(im, label, "needs starts and ends inputs%s", "");
        *y = *x;
        x->v = NULL;
        for (int64_t i = 0; i < in[1].numel; i++) {
            int axis = onnx_axis(n_in > 3 ? as_int(in[3].v[i]) : i, y->rank);
            int64_t step = n_in > 4 ? as_int(in[4].v[i]) : 1, size = axis >= 0 ? y->dims[axis] : 0;
            int64_t start = as_int(in[1].v[i]);
            int64_t end = as_int(in[2].v[i]);
            if (axis < 0 || step == 0)
                return onnx_fail(im, label, "axes must name dims and steps be non-zero%s", "");
            int64_t *idx = malloc((size_t)size * sizeof *idx + 8);
            if (!idx) return onnx_no_memory(im);
            int64_t count = onnx_slice_indices(start, end, step, size, idx, size);
            host_tensor cut;
            bool ok = take(y, axis, idx, count, &cut);
            free(idx);
            free(y->v);
            if (!ok) return y->v = NULL, onnx_no_memory(im);
            *y = cut;
        }
        return NNCL_OK;
    }
    if (!strcmp(op, "Transpose")) {
        int64_t perm[FOLD_MAX_RANK];
        int np = onnx_attr_ints(n, "perm", perm, FOLD_MAX_RANK);
        if (np != 0 && np != x->rank)
            return onnx_fail(im, label, "perm needs one entry per dim%s", "");
        *y = (host_tensor){.rank = x->rank, .ints = x->ints};
        for (int d = 0; d < x->rank; d++) {
            if (!np) perm[d] = x->rank - 1 - d;
            if (perm[d] < 0 || perm[d] >= x->rank)
                return onnx_fail(im, label, "perm names no dim%s", "");
            y->dims[d] = x->dims[perm[d]];
        }
        if ((st = sized(im, label, y)) != NNCL_OK) return st;
        for (int64_t i = 0; i < y->numel; i++) { /* y's coordinates, read through x's strides */
            int64_t rest = i, at = 0;
            for (int d = y->rank - 1; d >= 0; d--) {
                at += rest % y->dims[d] * stride_after(x, (int)perm[d]);
                rest /= y->dims[d];
            }
            y->v[i] = x->v[at];
        }
        return NNCL_OK;
    }
    /* Add, Sub, Mul, Div and Equal (0 or 1) with numpy broadcasting */
    if (n_in != 2) return onnx_fail(im, label, "needs two inputs%s", "");
    host_tensor *a = &in[0], *b = &in[1];
    *y = (host_tensor){.rank = a->rank > b->rank ? a->rank : b->rank,
                       .ints = (a->ints && b->ints) || !strcmp(op, "Equal")};
    for (int d = 0; d < y->rank; d++) {
        int da = d - (y->rank - a->rank), db = d - (y->rank - b->rank);
        int64_t sa = da >= 0 ? a->dims[da] : 1, sb = db >= 0 ? b->dims[db] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return onnx_fail(im, label, "the inputs' shapes do not broadcast%s", "");
        y->dims[d] = sa > sb ? sa : sb;
    }
    if ((st = sized(im, label, y)) != NNCL_OK) return st;
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t rest = i, ia = 0, ib = 0, step_a = 1, step_b = 1;
        for (int d = y->rank - 1; d >= 0; d--) {
            int64_t c = rest % y->dims[d];
            rest /= y->dims[d];
            int da = d - (y->rank - a->rank), db = d - (y->rank - b->rank);
            if (da >= 0) ia += (a->dims[da] == 1 ? 0 : c) * step_a, step_a *= a->dims[da];
            if (db >= 0) ib += (b->dims[db] == 1 ? 0 : c) * step_b, step_b *= b->dims[db];
        }
        y->v[i] = arith(op, a->v[ia], b->v[ib], y->ints);
    }
    return NNCL_OK;
}

static const char *const foldable[] = {"Identity",  "Cast",      "ConstantOfShape",
                                       "Unsqueeze", "Squeeze",   "Reshape",
                                       "Gather",    "Concat",    "Slice",
                                       "Add",       "Sub",       "Mul",
                                       "Div",       "Transpose", "Equal"};

/* Shape: the dims of its input from start to end (opset 15). */
static nncl_status fold_shape(importer *im, const NnclOnnx__NodeProto *n, const char *label) {
    slot *s = onnx_has_input(n, 0) ? onnx_lookup(im, n->input[0]) : NULL;
    if (!s || !s->name) return onnx_fail(im, label, "input 0 is missing%s", "");
    nncl_shape shape = {0};
    if (s->node) {
        shape = nncl_node_shape(s->node);
    } else {
        if (s->tensor->n_dims > NNCL_MAX_RANK) return onnx_fail(im, label, "too many dims%s", "");
        shape.rank = (int32_t)s->tensor->n_dims;
        for (int32_t d = 0; d < shape.rank; d++)
            shape.dims[d] = s->tensor->dims[d];
    }
    int64_t start = onnx_attr_int(n, "start", 0), end = onnx_attr_int(n, "end", shape.rank);
    if (start < 0) start += shape.rank;
    if (end < 0) end += shape.rank;
    start = start < 0 ? 0 : start > shape.rank ? shape.rank : start;
    end = end < start ? start : end > shape.rank ? shape.rank : end;
    host_tensor y = {.rank = 1, .dims = {end - start}, .ints = true};
    nncl_status st = sized(im, label, &y);
    if (st != NNCL_OK) return st;
    for (int64_t d = start; d < end; d++)
        y.v[d - start] = (double)shape.dims[d];
    st = store(im, n->output[0], &y);
    free(y.v);
    return st;
}

nncl_status onnx_fold(importer *im, const NnclOnnx__NodeProto *n, const char *label, bool *folded) {
    *folded = false;
    if (!strcmp(n->op_type, "Shape")) {
        *folded = true;
        return fold_shape(im, n, label);
    }
    bool known = false;
    for (size_t k = 0; k < sizeof foldable / sizeof foldable[0]; k++)
        known |= !strcmp(n->op_type, foldable[k]);
    if (!known || !onnx_has_input(n, 0) || n->n_input > FOLD_MAX_INPUTS || n->n_output != 1)
        return NNCL_OK;
    /* ConstantOfShape reads its input's value even where it is also a
     * graph input; the others fold only over pure constants, so that
     * inputs given values still run on the device. */
    bool of_shape = !strcmp(n->op_type, "ConstantOfShape");
    for (size_t k = 0; k < n->n_input; k++) {
        if (!n->input[k][0]) continue;
        slot *s = onnx_lookup(im, n->input[k]);
        if (!s->name || !s->tensor || (s->node && !of_shape)) return NNCL_OK;
    }
    host_tensor in[FOLD_MAX_INPUTS] = {{0}}, y = {0};
    size_t n_in = 0;
    nncl_status st = NNCL_OK;
    for (size_t k = 0; st == NNCL_OK && k < n->n_input; k++) {
        if (!n->input[k][0]) break; /* optional inputs end the list */
        st = load(im, label, onnx_tensor(im, n, k), &in[n_in++]);
    }
    if (st == NNCL_OK) st = fold_node(im, n, label, in, n_in, &y);
    if (st == NNCL_OK) st = store(im, n->output[0], &y);
    for (size_t k = 0; k < n_in; k++)
        free(in[k].v);
    free(y.v);
    *folded = st == NNCL_OK;
    return st;
}

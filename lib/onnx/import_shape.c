/* ONNX's data-movement operators on computed values: Concat and Flatten on
 * any axis, Split, Reshape, Transpose, Squeeze / Unsqueeze, Pad (negative
 * pads crop), Slice (negative steps too) and Gather (an embedding lookup,
 * or a take along an axis with constant indices). Constant inputs only
 * fold at import (import_fold.c). */
#include "importer.h"

#include <stdlib.h>
#include <string.h>

static int64_t prod(const int64_t *dims, int32_t from, int32_t to) {
    int64_t p = 1;
    for (int32_t d = from; d < to; d++)
        p *= dims[d];
    return p;
}

/* Concatenation along any axis: each part seen as [outer, dim, inner]
 * (a view), joined along dim 1 by nncl_concat, then given the result's
 * shape. */
static nncl_node *concat_axis(nncl_graph *g, nncl_node **parts, int32_t count, int32_t axis,
                              const char *name) {
    nncl_shape s = nncl_node_shape(parts[0]);
    if (axis == 1 && s.rank >= 2) return nncl_concat(g, parts, count, name);
    nncl_node *views[64];
    int64_t total = 0;
    for (int32_t k = 0; k < count; k++) {
        nncl_shape p = nncl_node_shape(parts[k]);
        if (p.rank != s.rank) return nncl_concat(g, parts, count, name); /* its own error */
        nncl_shape v = {
            .rank = 3,
            .dims = {prod(p.dims, 0, axis), p.dims[axis], prod(p.dims, axis + 1, p.rank)}};
        total += p.dims[axis];
        if (!(views[k] = nncl_reshape(g, parts[k], v, NULL))) return NULL;
    }
    nncl_node *joined = nncl_concat(g, views, count, NULL);
    s.dims[axis] = total;
    return joined ? nncl_reshape(g, joined, s, name) : NULL;
}

nncl_status onnx_map_concat(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                            nncl_node **out) {
    nncl_node *parts[64];
    if (!n->n_input || n->n_input > 64) return onnx_fail(im, label, "takes 1 to 64 inputs%s", "");
    for (size_t k = 0; k < n->n_input; k++)
        if (!(parts[k] = onnx_operand(im, n, k)))
            return onnx_fail(im, label, "an input is missing%s", "");
    int32_t axis = onnx_axis(onnx_attr_int(n, "axis", 1), nncl_node_shape(parts[0]).rank);
    if (axis < 0) return onnx_fail(im, label, "attribute 'axis' is not a dim of input 0%s", "");
    *out = concat_axis(im->g, parts, (int32_t)n->n_input, axis, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Elements idx[0 .. count) of x along axis, in order (runs of consecutive
 * indices as one slice each), named `name`. */
static nncl_node *take(nncl_graph *g, nncl_node *x, int32_t axis, const int64_t *idx, int64_t count,
                       const char *name) {
    nncl_node *parts[64];
    int32_t n_parts = 0;
    nncl_node *y = NULL;
    for (int64_t i = 0; i < count;) {
        int64_t run = 1;
        while (i + run < count && idx[i + run] == idx[i] + run)
            run++;
        bool whole = i == 0 && run == count;
        nncl_node *piece = nncl_slice(g, x, axis, idx[i], idx[i] + run, 1, whole ? name : NULL);
        if (!piece) return NULL;
        if (whole) return piece;
        if (n_parts == 64) { /* join what there is and go on from it */
            y = concat_axis(g, parts, n_parts, axis, NULL);
            if (!y) return NULL;
            parts[0] = y;
            n_parts = 1;
        }
        parts[n_parts++] = piece;
        i += run;
    }
    return concat_axis(g, parts, n_parts, axis, name);
}

nncl_status onnx_map_split(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                           nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    nncl_shape xs = nncl_node_shape(x);
    int32_t axis = onnx_axis(onnx_attr_int(n, "axis", 0), xs.rank);
    if (axis < 0) return onnx_fail(im, label, "attribute 'axis' is not a dim of the input%s", "");
    int64_t sizes[64];
    int count;
    nncl_status st = onnx_ints_from(im, n, 1, "split", sizes, 64, &count, label);
    if (st != NNCL_OK) return st;
    if (n->n_output > 64) return onnx_fail(im, label, "more than 64 outputs%s", "");
    if (count < 0) { /* equal parts */
        count = (int)n->n_output;
        for (int k = 0; k < count; k++)
            sizes[k] = (xs.dims[axis] + count - 1) / count;
        sizes[count - 1] = xs.dims[axis] - (count - 1) * sizes[0];
    }
    if ((size_t)count != n->n_output)
        return onnx_fail(im, label, "needs one split size per output%s", "");
    for (int k = 0; k < count; k++)
        if (sizes[k] < 1 || sizes[k] > xs.dims[axis])
            return onnx_fail(im, label, "split sizes must be in 1 .. the axis' size%s", "");
    int64_t at = 0;
    for (int k = 0; k < count; k++) {
        nncl_node *part = nncl_slice(im->g, x, axis, at, at + sizes[k], 1, n->output[k]);
        if (!part) return nncl_graph_status(im->g);
        if (k == 0)
            *out = part;
        else
            *onnx_lookup(im, n->output[k]) = (slot){.name = n->output[k], .node = part};
        at += sizes[k];
    }
    if (at != xs.dims[axis])
        return onnx_fail(im, label, "the split sizes do not add up to the axis%s", "");
    return NNCL_OK;
}

/* Reshape to a constant shape: 0 copies the input's dim (unless
 * allowzero), -1 is inferred. */
nncl_status onnx_map_reshape(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    const NnclOnnx__TensorProto *t = onnx_tensor(im, n, 1);
    if (!x || !t) return onnx_fail(im, label, "needs an input and a constant shape%s", "");
    int64_t *dims, count;
    nncl_status st = nncl_onnx_tensor_ints(t, &dims, &count);
    if (st != NNCL_OK) return st;
    nncl_shape in = nncl_node_shape(x), shape = {.rank = (int32_t)count};
    bool allow_zero = onnx_attr_int(n, "allowzero", 0) != 0;
    if (count < 1 || count > NNCL_MAX_RANK) {
        free(dims);
        return onnx_fail(im, label, "the shape needs 1 to 5 dims%s", "");
    }
    for (int64_t d = 0; d < count; d++)
        shape.dims[d] = dims[d] == 0 && !allow_zero && d < in.rank ? in.dims[d] : dims[d];
    free(dims);
    *out = nncl_reshape(im->g, x, shape, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Flatten: [d0 .. d(axis-1)] and the rest, each multiplied out. */
nncl_status onnx_map_flatten(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    nncl_shape s = nncl_node_shape(x);
    int64_t axis = onnx_attr_int(n, "axis", 1);
    if (axis < 0) axis += s.rank;
    if (axis < 0 || axis > s.rank)
        return onnx_fail(im, label, "attribute 'axis' is outside the input's dims%s", "");
    nncl_shape flat = {
        .rank = 2, .dims = {prod(s.dims, 0, (int32_t)axis), prod(s.dims, (int32_t)axis, s.rank)}};
    *out = nncl_reshape(im->g, x, flat, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

nncl_status onnx_map_transpose(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                               nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    int32_t rank = nncl_node_shape(x).rank, dims[NNCL_MAX_RANK];
    int64_t perm[NNCL_MAX_RANK];
    int np = onnx_attr_ints(n, "perm", perm, NNCL_MAX_RANK);
    if (np != 0 && np != rank)
        return onnx_fail(im, label, "attribute 'perm' needs one entry per dim%s", "");
    for (int32_t d = 0; d < rank; d++) /* no perm: the dims reversed */
        dims[d] = np ? (int32_t)perm[d] : rank - 1 - d;
    *out = nncl_permute(im->g, x, dims, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Squeeze and Unsqueeze as reshapes (axes from the attribute, or from
 * opset 13 the input; Squeeze without axes drops every 1). */
nncl_status onnx_map_squeeze(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    bool squeeze = !strcmp(n->op_type, "Squeeze");
    nncl_shape in = nncl_node_shape(x), shape = {0};
    int64_t axes[NNCL_MAX_RANK];
    int na;
    nncl_status st = onnx_ints_from(im, n, 1, "axes", axes, NNCL_MAX_RANK, &na, label);
    if (st != NNCL_OK) return st;
    int32_t rank = squeeze ? in.rank : in.rank + (na > 0 ? na : 0);
    bool marked[2 * NNCL_MAX_RANK] = {false};
    if (!squeeze && na < 1) return onnx_fail(im, label, "needs axes%s", "");
    for (int i = 0; i < na; i++) {
        int32_t a = onnx_axis(axes[i], rank);
        if (a < 0 || marked[a] || (squeeze && in.dims[a] != 1))
            return onnx_fail(im, label, "axes must name distinct dims (of size 1 to squeeze)%s",
                             "");
        marked[a] = true;
    }
    for (int32_t d = 0, k = 0; d < rank; d++) {
        if (squeeze && (na > 0 ? marked[d] : in.dims[d] == 1)) continue;
        if (shape.rank == NNCL_MAX_RANK) return onnx_fail(im, label, "more than 5 dims%s", "");
        shape.dims[shape.rank++] = !squeeze && marked[d] ? 1 : in.dims[squeeze ? d : k++];
    }
    if (!shape.rank) shape.dims[shape.rank++] = 1; /* a scalar stays [1] */
    *out = nncl_reshape(im->g, x, shape, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Pad: ONNX's [x1_begin, x2_begin, ..., x1_end, ...] over every dim;
 * negative pads crop (a slice after the padding). */
nncl_status onnx_map_pad(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                         nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    int32_t rank = nncl_node_shape(x).rank;
    int64_t pads[2 * NNCL_MAX_RANK], ours[2 * NNCL_MAX_RANK];
    int count;
    nncl_status st = onnx_ints_from(im, n, 1, "pads", pads, 2 * NNCL_MAX_RANK, &count, label);
    if (st != NNCL_OK) return st;
    if (count != 2 * rank) return onnx_fail(im, label, "needs two pads per dim%s", "");
    if (onnx_has_input(n, 3)) return onnx_fail(im, label, "the axes input is not supported%s", "");
    float value;
    if ((st = onnx_float_from(im, n, 2, "value", 0, &value, label)) != NNCL_OK) return st;
    bool crops = false;
    for (int32_t d = 0; d < rank; d++) { /* ours: the last dim first, the growing part */
        ours[2 * (rank - 1 - d)] = pads[d] > 0 ? pads[d] : 0;
        ours[2 * (rank - 1 - d) + 1] = pads[rank + d] > 0 ? pads[rank + d] : 0;
        crops |= pads[d] < 0 || pads[rank + d] < 0;
    }
    char buf[32];
    const char *mode = onnx_attr_string(n, "mode", "constant", buf, sizeof buf);
    nncl_pad_mode m = !strcmp(mode, "reflect") ? NNCL_PAD_REFLECT
                      : !strcmp(mode, "edge")  ? NNCL_PAD_REPLICATE
                                               : NNCL_PAD_CONSTANT;
    if (m == NNCL_PAD_CONSTANT && strcmp(mode, "constant"))
        return onnx_fail(im, label, "attribute 'mode' is '%s'", mode);
    int32_t used = 2 * rank; /* nncl_pad's list may stop after the last padded dim */
    while (used > 2 && !ours[used - 1] && !ours[used - 2])
        used -= 2;
    nncl_node *y = nncl_pad(im->g, x, ours, used, m, value, crops ? NULL : n->output[0]);
    for (int32_t d = 0; y && crops && d < rank; d++) {
        int64_t size = nncl_node_shape(y).dims[d];
        int64_t from = pads[d] < 0 ? -pads[d] : 0,
                to = size + (pads[rank + d] < 0 ? pads[rank + d] : 0);
        y = nncl_slice(im->g, y, d, from, to, 1, d == rank - 1 ? n->output[0] : NULL);
    }
    *out = y;
    return y ? NNCL_OK : nncl_graph_status(im->g);
}

/* Slice: one nncl slice per axis, a take for negative steps; the last is
 * named as the output. */
nncl_status onnx_map_slice(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                           nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    int32_t rank = nncl_node_shape(x).rank;
    int64_t starts[NNCL_MAX_RANK], ends[NNCL_MAX_RANK], axes[NNCL_MAX_RANK], steps[NNCL_MAX_RANK];
    int ns, ne, na, nt;
    nncl_status st = onnx_ints_from(im, n, 1, "starts", starts, NNCL_MAX_RANK, &ns, label);
    if (st == NNCL_OK) st = onnx_ints_from(im, n, 2, "ends", ends, NNCL_MAX_RANK, &ne, label);
    if (st == NNCL_OK) st = onnx_ints_from(im, n, 3, "axes", axes, NNCL_MAX_RANK, &na, label);
    if (st == NNCL_OK) st = onnx_ints_from(im, n, 4, "steps", steps, NNCL_MAX_RANK, &nt, label);
    if (st != NNCL_OK) return st;
    if (ns < 1 || ne != ns || (na >= 0 && na != ns) || (nt >= 0 && nt != ns))
        return onnx_fail(im, label,
                         "starts, ends, axes and steps must have one value each per sliced "
                         "axis%s",
                         "");
    nncl_node *y = x;
    for (int i = 0; i < ns; i++) {
        int32_t axis = onnx_axis(na >= 0 ? axes[i] : i, rank);
        int64_t step = nt >= 0 ? steps[i] : 1, size = nncl_node_shape(y).dims[axis < 0 ? 0 : axis];
        if (axis < 0 || step == 0)
            return onnx_fail(im, label, "axes must name dims and steps be non-zero%s", "");
        const char *name = i == ns - 1 ? n->output[0] : NULL;
        if (step > 0) {
            y = nncl_slice(im->g, y, axis, starts[i], ends[i], step, name);
        } else {
            int64_t *idx = malloc((size_t)size * sizeof *idx);
            if (!idx) return onnx_no_memory(im);
            int64_t count = onnx_slice_indices(starts[i], ends[i], step, size, idx, size);
            y = count > 0 ? take(im->g, y, axis, idx, count, name) : NULL;
            free(idx);
            if (count <= 0) return onnx_fail(im, label, "a slice is empty%s", "");
        }
        if (!y) return nncl_graph_status(im->g);
    }
    *out = y;
    return NNCL_OK;
}

/* Gather: rows of a constant table by computed int ids (axis 0) is an
 * embedding whose weight is the table; constant indices take along any
 * axis of a value: data.shape[:axis] + indices.shape + data.shape[axis+1:]. */
nncl_status onnx_map_gather(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                            nncl_node **out) {
    const NnclOnnx__TensorProto *table = onnx_value(im, n, 0) ? NULL : onnx_tensor(im, n, 0);
    const NnclOnnx__TensorProto *indices = onnx_tensor(im, n, 1);
    nncl_node *ids = onnx_value(im, n, 1);
    int64_t axis_attr = onnx_attr_int(n, "axis", 0);
    if (table && !indices && ids && table->n_dims == 2 && onnx_axis(axis_attr, 2) == 0) {
        nncl_node *y =
            nncl_embedding(im->g, ids, table->dims[0], table->dims[1], NULL, n->output[0]);
        if (!y) return nncl_graph_status(im->g);
        *out = y;
        return onnx_adopt(im, y, &table, 1, label);
    }
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x || !indices)
        return onnx_fail(im, label,
                         "needs constant indices, or int ids into a constant 2-dim table%s", "");
    nncl_shape xs = nncl_node_shape(x);
    int32_t axis = onnx_axis(axis_attr, xs.rank);
    if (axis < 0) return onnx_fail(im, label, "attribute 'axis' is not a dim of the data%s", "");
    int64_t *idx, count;
    nncl_status st = nncl_onnx_tensor_ints(indices, &idx, &count);
    if (st != NNCL_OK) return st;
    nncl_shape shape = {0};
    for (int32_t d = 0; d < axis; d++)
        shape.dims[shape.rank++] = xs.dims[d];
    for (size_t d = 0; d < indices->n_dims && shape.rank < NNCL_MAX_RANK; d++)
        shape.dims[shape.rank++] = indices->dims[d];
    int32_t tail = xs.rank - axis - 1;
    bool fits =
        shape.rank + tail <= NNCL_MAX_RANK && (int32_t)indices->n_dims + axis <= NNCL_MAX_RANK;
    for (int32_t d = axis + 1; fits && d < xs.rank; d++)
        shape.dims[shape.rank++] = xs.dims[d];
    for (int64_t i = 0; st == NNCL_OK && i < count; i++) {
        if (idx[i] < 0) idx[i] += xs.dims[axis];
        if (idx[i] < 0 || idx[i] >= xs.dims[axis])
            st = onnx_fail(im, label, "an index is outside the axis%s", "");
    }
    if (st == NNCL_OK && (!fits || count < 1))
        st = onnx_fail(im, label, "the result needs 1 to 5 dims and at least one index%s", "");
    nncl_node *y = st == NNCL_OK ? take(im->g, x, axis, idx, count, NULL) : NULL;
    free(idx);
    if (st != NNCL_OK) return st;
    if (!shape.rank) shape.dims[shape.rank++] = 1; /* a scalar index of a 1-dim value */
    *out = y ? nncl_reshape(im->g, y, shape, n->output[0]) : NULL;
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

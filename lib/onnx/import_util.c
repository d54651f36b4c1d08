/* The importer's shared helpers: its name table, attribute and constant
 * input readers, initializers adopted as parameters (renamed, their values
 * written once every node is built), and tensors the import makes. */
#include "importer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

slot *onnx_lookup(importer *im, const char *name) {
    for (size_t i = nncl_onnx_name_hash(name) & (im->cap - 1);; i = (i + 1) & (im->cap - 1))
        if (!im->slots[i].name || !strcmp(im->slots[i].name, name)) return &im->slots[i];
}

nncl_status onnx_fail(importer *im, const char *label, const char *fmt, const char *detail) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: %s: %s", im->file, label, msg);
}

nncl_status onnx_no_memory(importer *im) {
    return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: import", im->file);
}

/* ---- attributes */

const NnclOnnx__AttributeProto *onnx_attr(const NnclOnnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

int64_t onnx_attr_int(const NnclOnnx__NodeProto *n, const char *name, int64_t fallback) {
    const NnclOnnx__AttributeProto *a = onnx_attr(n, name);
    return a && a->has_i ? a->i : fallback;
}

float onnx_attr_float(const NnclOnnx__NodeProto *n, const char *name, float fallback) {
    const NnclOnnx__AttributeProto *a = onnx_attr(n, name);
    return a && a->has_f ? a->f : fallback;
}

int onnx_attr_ints(const NnclOnnx__NodeProto *n, const char *name, int64_t *out, int max) {
    const NnclOnnx__AttributeProto *a = onnx_attr(n, name);
    if (!a) return 0;
    if (a->n_ints > (size_t)max) return -1;
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = a->ints[i];
    return (int)a->n_ints;
}

const char *onnx_attr_string(const NnclOnnx__NodeProto *n, const char *name, const char *fallback,
                             char *buf, size_t size) {
    const NnclOnnx__AttributeProto *a = onnx_attr(n, name);
    if (!a || !a->has_s) return fallback;
    size_t len = a->s.len < size - 1 ? a->s.len : size - 1;
    memcpy(buf, a->s.data, len);
    buf[len] = 0;
    return buf;
}

int32_t onnx_axis(int64_t axis, int32_t rank) {
    if (axis < 0) axis += rank;
    return axis >= 0 && axis < rank ? (int32_t)axis : -1;
}

/* The indices a Python slice start:end:step (clamped as ONNX's Slice
 * clamps) visits over a dim of `size`; their count, or -1 when more than
 * fit. */
int64_t onnx_slice_indices(int64_t start, int64_t end, int64_t step, int64_t size, int64_t *idx,
                           int64_t max) {
    if (start < 0) start += size;
    if (end < 0) end += size;
    int64_t count = 0;
    if (step > 0) {
        start = start < 0 ? 0 : start > size ? size : start;
        end = end < 0 ? 0 : end > size ? size : end;
        for (int64_t i = start; i < end; i += step)
            if (count < max)
                idx[count++] = i;
            else
                return -1;
    } else {
        start = start < 0 ? -1 : start > size - 1 ? size - 1 : start;
        end = end < -1 ? -1 : end > size - 1 ? size - 1 : end;
        for (int64_t i = start; i > end; i += step)
            if (count < max)
                idx[count++] = i;
            else
                return -1;
    }
    return count;
}

/* ---- inputs */

bool onnx_has_input(const NnclOnnx__NodeProto *n, size_t k) {
    return k < n->n_input && n->input[k][0];
}

nncl_node *onnx_value(importer *im, const NnclOnnx__NodeProto *n, size_t k) {
    if (!onnx_has_input(n, k)) return NULL;
    slot *s = onnx_lookup(im, n->input[k]);
    return s->name ? s->node : NULL;
}

const NnclOnnx__TensorProto *onnx_tensor(importer *im, const NnclOnnx__NodeProto *n, size_t k) {
    if (!onnx_has_input(n, k)) return NULL;
    slot *s = onnx_lookup(im, n->input[k]);
    return s->name ? s->tensor : NULL;
}

int64_t onnx_numel(const NnclOnnx__TensorProto *t) {
    int64_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++)
        n *= t->dims[d]; /* checked by nncl_onnx_read */
    return n;
}

static nncl_status queue_write(importer *im, const char *param, float *values, int64_t count) {
    if (im->n_writes == im->writes_cap) {
        size_t cap = im->writes_cap ? 2 * im->writes_cap : 16;
        pending_write *grown = realloc(im->writes, cap * sizeof *grown);
        if (!grown) return free(values), onnx_no_memory(im);
        im->writes = grown;
        im->writes_cap = cap;
    }
    char *name = strdup(param);
    if (!name) return free(values), onnx_no_memory(im);
    im->writes[im->n_writes++] = (pending_write){name, values, count};
    return NNCL_OK;
}

nncl_status onnx_adopt(importer *im, nncl_node *node, const NnclOnnx__TensorProto *const *tensors,
                       size_t count, const char *label) {
    for (size_t i = 0; i < count; i++) {
        const NnclOnnx__TensorProto *t = tensors[i];
        if (!t) continue;
        nncl_param_entry *p = nncl_node_param(im->g, node, i);
        int64_t numel = onnx_numel(t);
        if (!p || p->numel != numel) {
            char msg[160];
            snprintf(msg, sizeof msg, "initializer '%%s' has %lld elements where %lld are needed",
                     (long long)numel, p ? (long long)p->numel : 0LL);
            return onnx_fail(im, label, msg, t->name);
        }
        char *name = strdup(t->name);
        if (!name) return onnx_no_memory(im);
        free(p->name);
        p->name = name;
        float *values;
        int64_t n_values;
        nncl_status st = nncl_onnx_tensor_floats(t, &values, &n_values);
        if (st == NNCL_OK) st = queue_write(im, t->name, values, n_values);
        if (st != NNCL_OK) return st;
    }
    return NNCL_OK;
}

nncl_node *onnx_slot_node(importer *im, slot *s) {
    if (!s->name) return NULL;
    if (s->node) return s->node;
    const NnclOnnx__TensorProto *t = s->tensor;
    if (t->n_dims > NNCL_MAX_RANK) return NULL;
    nncl_shape shape = {.rank = t->n_dims ? (int32_t)t->n_dims : 1, .dims = {1}};
    for (size_t d = 0; d < t->n_dims; d++)
        shape.dims[d] = t->dims[d];
    nncl_node *p = nncl_parameter(im->g, s->name, shape, NNCL_INIT_ZEROS, 0);
    float *values;
    int64_t count;
    if (!p || nncl_onnx_tensor_floats(t, &values, &count) != NNCL_OK ||
        queue_write(im, s->name, values, count) != NNCL_OK)
        return NULL;
    /* A constant stays what it is: frozen (a graph still being built plans
     * afterwards, so the flag alone is enough). */
    if (s->constant) nncl_node_param(im->g, p, 0)->frozen = true;
    s->node = p;
    return p;
}

nncl_node *onnx_operand(importer *im, const NnclOnnx__NodeProto *n, size_t k) {
    return onnx_has_input(n, k) ? onnx_slot_node(im, onnx_lookup(im, n->input[k])) : NULL;
}

nncl_status onnx_ints_from(importer *im, const NnclOnnx__NodeProto *n, size_t k, const char *name,
                           int64_t *out, int max, int *count, const char *label) {
    *count = -1;
    if (onnx_has_input(n, k)) {
        const NnclOnnx__TensorProto *t = onnx_tensor(im, n, k);
        if (!t) return onnx_fail(im, label, "input '%s' must be a constant", n->input[k]);
        int64_t *v, c;
        nncl_status st = nncl_onnx_tensor_ints(t, &v, &c);
        if (st != NNCL_OK) return st;
        if (c > max) {
            free(v);
            return onnx_fail(im, label, "input '%s' holds too many values", n->input[k]);
        }
        memcpy(out, v, (size_t)c * sizeof *v);
        free(v);
        *count = (int)c;
        return NNCL_OK;
    }
    int got = onnx_attr_ints(n, name, out, max);
    if (got < 0) return onnx_fail(im, label, "attribute '%s' holds too many values", name);
    if (onnx_attr(n, name)) *count = got;
    return NNCL_OK;
}

nncl_status onnx_float_from(importer *im, const NnclOnnx__NodeProto *n, size_t k, const char *name,
                            float fallback, float *out, const char *label) {
    *out = onnx_attr_float(n, name, fallback);
    if (!onnx_has_input(n, k)) return NNCL_OK;
    const NnclOnnx__TensorProto *t = onnx_tensor(im, n, k);
    float *v;
    int64_t c;
    if (!t) return onnx_fail(im, label, "input '%s' must be a constant", n->input[k]);
    nncl_status st = nncl_onnx_tensor_floats(t, &v, &c);
    if (st != NNCL_OK) return st;
    if (c == 1) *out = v[0];
    free(v);
    return c == 1 ? NNCL_OK : onnx_fail(im, label, "input '%s' must hold one value", n->input[k]);
}

/* ---- tensors the import makes */

const NnclOnnx__TensorProto *onnx_make_tensor(importer *im, const char *name, const int64_t *dims,
                                              int rank, const int64_t *ints, const float *floats) {
    if (im->n_made == im->made_cap) {
        size_t cap = im->made_cap ? 2 * im->made_cap : 16;
        NnclOnnx__TensorProto **grown = realloc(im->made, cap * sizeof *grown);
        if (!grown) return NULL;
        im->made = grown;
        im->made_cap = cap;
    }
    int64_t numel = 1;
    for (int d = 0; d < rank; d++)
        numel *= dims[d];
    NnclOnnx__TensorProto *t = calloc(1, sizeof *t);
    int64_t *dim_copy = calloc((size_t)rank + 1, sizeof *dim_copy);
    void *data = calloc((size_t)numel + 1, ints ? sizeof(int64_t) : sizeof(float));
    if (!t || !dim_copy || !data) {
        free(t), free(dim_copy), free(data);
        return NULL;
    }
    nncl_onnx__tensor_proto__init(t);
    memcpy(dim_copy, dims, (size_t)rank * sizeof *dims);
    memcpy(data, ints ? (const void *)ints : (const void *)floats,
           (size_t)numel * (ints ? sizeof(int64_t) : sizeof(float)));
    t->name = (char *)name;
    t->has_data_type = true;
    t->n_dims = (size_t)rank;
    t->dims = dim_copy;
    if (ints) {
        t->data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        t->n_int64_data = (size_t)numel;
        t->int64_data = data;
    } else {
        t->data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        t->n_float_data = (size_t)numel;
        t->float_data = data;
    }
    im->made[im->n_made++] = t;
    return t;
}

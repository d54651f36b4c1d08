/* Reading and checking ONNX files (onnx_file.h). protobuf-c decodes; this
 * file checks what a decoder cannot: the opset, the order and names of the
 * graph's values, and that each tensor's data has its shape's size. Sizes
 * from the file use checked arithmetic; messages name the file and the
 * node (by name, or by index and op type) or tensor. */
#include "onnx_file.h"
#include "../runtime/checked.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ONNX files are protobuf messages, which protobuf limits to 2 GiB. */
#define NNCL_ONNX_MAX_BYTES ((size_t)2 << 30)

/* A set of value names (open addressing), sized for all of them. */
typedef struct name_set {
    const char **slots;
    size_t cap;
    const struct name_set *outer; /* a subgraph also sees its enclosing graph's names */
} name_set;

uint64_t nncl_onnx_name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Adds name; false when it was there already. */
static bool set_add(name_set *set, const char *name) {
    for (size_t i = nncl_onnx_name_hash(name) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        if (!set->slots[i]) {
            set->slots[i] = name;
            return true;
        }
        if (!strcmp(set->slots[i], name)) return false;
    }
}

static bool set_has(const name_set *set, const char *name) {
    for (size_t i = nncl_onnx_name_hash(name) & (set->cap - 1); set->slots[i];
         i = (i + 1) & (set->cap - 1))
        if (!strcmp(set->slots[i], name)) return true;
    return set->outer && set_has(set->outer, name);
}

/* Bytes per element of a data type nncl reads, or 0. */
static size_t elem_size(int32_t type) {
    switch (type) {
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        return 1;
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
        return 2;
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
        return 4;
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        return 8;
    default:
        return 0;
    }
}

/* How many values the typed (non-raw) field for the tensor's type holds. */
static size_t typed_count(const NnclOnnx__TensorProto *t) {
    switch (t->data_type) {
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        return t->n_float_data;
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        return t->n_int64_data;
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        return t->n_double_data;
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        return t->n_uint64_data;
    default: /* the small integer types and bool travel in int32_data */
        return t->n_int32_data;
    }
}

/* The number of elements of a tensor's dims, or -1 when one is negative or
 * their product overflows. */
static int64_t tensor_numel(const NnclOnnx__TensorProto *t) {
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++)
        if (t->dims[i] < 0 || !nncl_mul_i64(n, t->dims[i], &n)) return -1;
    return n;
}

nncl_status nncl_onnx_check_tensor(const char *file, const char *where,
                                   const NnclOnnx__TensorProto *t) {
    const char *name = t->name && t->name[0] ? t->name : "(unnamed)";
    if (t->has_data_location &&
        t->data_location == NNCL_ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: %s tensor '%s' keeps its data in an external file, which nncl does "
                         "not read (save the model with its data inside)",
                         file, where, name);
    size_t elem = elem_size(t->data_type);
    if (!elem)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: %s tensor '%s' has data type %d, which nncl does not read (float, "
                         "double and integer types only)",
                         file, where, name, (int)t->data_type);
    int64_t numel = tensor_numel(t);
    size_t bytes;
    if (numel < 0 || !nncl_bytes_of(numel, elem, &bytes))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: %s tensor '%s': its dims are negative or their product overflows",
                         file, where, name);
    if (t->has_raw_data ? t->raw_data.len != bytes : typed_count(t) != (size_t)numel)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: %s tensor '%s' holds %zu %s for %lld elements of %zu bytes", file,
                         where, name, t->has_raw_data ? t->raw_data.len : typed_count(t),
                         t->has_raw_data ? "raw bytes" : "values", (long long)numel, elem);
    return NNCL_OK;
}

/* "node 'conv1' (Conv)" or "node 3 (Conv)" for messages. */
static void node_label(const NnclOnnx__NodeProto *n, size_t index, char *buf, size_t size) {
    if (n->name && n->name[0])
        snprintf(buf, size, "node '%s' (%s)", n->name, n->op_type ? n->op_type : "?");
    else
        snprintf(buf, size, "node %zu (%s)", index, n->op_type ? n->op_type : "?");
}

static bool default_domain(const char *domain) {
    return !domain || !domain[0] || !strcmp(domain, "ai.onnx");
}

static nncl_status check_opset(const char *file, const NnclOnnx__ModelProto *m, int64_t *opset) {
    *opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (default_domain(m->opset_import[i]->domain)) *opset = m->opset_import[i]->version;
    if (*opset < NNCL_ONNX_MIN_OPSET || *opset > NNCL_ONNX_MAX_OPSET)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         *opset < 0 ? "%s: the model imports no opset of the default ONNX domain"
                                    : "%s: the model uses opset %lld; nncl reads opsets %d to %d",
                         file, (long long)*opset, NNCL_ONNX_MIN_OPSET, NNCL_ONNX_MAX_OPSET);
    return NNCL_OK;
}

static nncl_status check_graph(const char *file, const NnclOnnx__GraphProto *g,
                               const name_set *outer, int depth);

/* Every attribute tensor (Constant's value, ...) checked like initializers,
 * and every subgraph (If's branches) like the graph, seeing the names
 * defined before its node. */
static nncl_status check_attributes(const char *file, const NnclOnnx__NodeProto *n,
                                    const char *label, const name_set *scope, int depth) {
    for (size_t a = 0; a < n->n_attribute; a++) {
        const NnclOnnx__AttributeProto *attr = n->attribute[a];
        if (!attr->name || !attr->name[0])
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: %s has an unnamed attribute", file,
                             label);
        if (attr->t) {
            nncl_status st = nncl_onnx_check_tensor(file, label, attr->t);
            if (st != NNCL_OK) return st;
        }
        for (size_t k = 0; k < attr->n_tensors; k++) {
            nncl_status st = nncl_onnx_check_tensor(file, label, attr->tensors[k]);
            if (st != NNCL_OK) return st;
        }
        if (attr->g) {
            if (depth >= 8)
                return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                                 "%s: %s nests subgraphs more than 8 deep", file, label);
            char where[512]; /* messages inside name the node and the attribute */
            snprintf(where, sizeof where, "%s: %s, subgraph '%s'", file, label, attr->name);
            nncl_status st = check_graph(where, attr->g, scope, depth + 1);
            if (st != NNCL_OK) return st;
        }
        if (attr->n_graphs)
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "%s: %s has a list of subgraphs, which nncl does not read", file,
                             label);
    }
    return NNCL_OK;
}

static nncl_status check_graph(const char *file, const NnclOnnx__GraphProto *g,
                               const name_set *outer, int depth) {
    size_t values = g->n_input + g->n_initializer;
    for (size_t i = 0; i < g->n_node; i++)
        values += g->node[i]->n_output;
    name_set set = {.cap = 16, .outer = outer};
    while (set.cap < 2 * values)
        set.cap *= 2;
    set.slots = calloc(set.cap, sizeof *set.slots);
    if (!set.slots) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: the graph's names", file);
    nncl_status st = NNCL_OK;
    for (size_t i = 0; st == NNCL_OK && i < g->n_initializer; i++) {
        const NnclOnnx__TensorProto *t = g->initializer[i];
        if (!t->name || !t->name[0] || !set_add(&set, t->name))
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                           "%s: initializer %zu is %s: initializers need distinct names", file, i,
                           t->name && t->name[0] ? "named again" : "unnamed");
        else
            st = nncl_onnx_check_tensor(file, "initializer", t);
    }
    for (size_t i = 0; st == NNCL_OK && i < g->n_input; i++) {
        const char *name = g->input[i]->name;
        if (!name || !name[0])
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: graph input %zu is unnamed", file, i);
        else
            set_add(&set, name); /* older exporters list initializers as inputs too */
    }
    for (size_t i = 0; st == NNCL_OK && i < g->n_node; i++) {
        const NnclOnnx__NodeProto *n = g->node[i];
        char label[160];
        node_label(n, i, label, sizeof label);
        if (!n->op_type || !n->op_type[0]) {
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: %s has no op type", file, label);
            break;
        }
        if (!default_domain(n->domain)) {
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                           "%s: %s is from domain '%s'; nncl maps the default ONNX domain only",
                           file, label, n->domain);
            break;
        }
        for (size_t k = 0; st == NNCL_OK && k < n->n_input; k++)
            if (n->input[k][0] && !set_has(&set, n->input[k]))
                st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                               "%s: %s reads '%s' (input %zu), which no graph input, initializer "
                               "or earlier node gives (nodes must be in topological order, "
                               "without cycles)",
                               file, label, n->input[k], k);
        for (size_t k = 0; st == NNCL_OK && k < n->n_output; k++)
            if (n->output[k][0] && !set_add(&set, n->output[k]))
                st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                               "%s: %s writes '%s' (output %zu), which is already defined", file,
                               label, n->output[k], k);
        if (st == NNCL_OK) st = check_attributes(file, n, label, &set, depth);
    }
    for (size_t i = 0; st == NNCL_OK && i < g->n_output; i++) {
        const char *name = g->output[i]->name;
        if (!name || !set_has(&set, name))
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                           "%s: graph output %zu ('%s') is not produced by the graph", file, i,
                           name ? name : "");
    }
    if (st == NNCL_OK && !g->n_output)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: the graph has no outputs", file);
    free(set.slots);
    return st;
}

size_t nncl_onnx_value_count(const NnclOnnx__GraphProto *g) {
    size_t n = g->n_input + g->n_initializer + g->n_output;
    for (size_t i = 0; i < g->n_node; i++) {
        n += g->node[i]->n_output;
        for (size_t a = 0; a < g->node[i]->n_attribute; a++)
            if (g->node[i]->attribute[a]->g)
                n += nncl_onnx_value_count(g->node[i]->attribute[a]->g);
    }
    return n;
}

nncl_status nncl_onnx_parse(const uint8_t *bytes, size_t size, const char *name,
                            nncl_onnx_file *out) {
    memset(out, 0, sizeof *out);
    NnclOnnx__ModelProto *m = nncl_onnx__model_proto__unpack(NULL, size, bytes);
    if (!m)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: not an ONNX model (%zu bytes that do not decode as a ModelProto: "
                         "truncated, or not protobuf)",
                         name, size);
    int64_t opset = -1;
    nncl_status st = check_opset(name, m, &opset);
    if (st == NNCL_OK && !m->graph)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: the model has no graph", name);
    if (st == NNCL_OK) st = check_graph(name, m->graph, NULL, 0);
    if (st != NNCL_OK) {
        nncl_onnx__model_proto__free_unpacked(m, NULL);
        return st;
    }
    *out = (nncl_onnx_file){.model = m, .graph = m->graph, .opset = opset};
    return NNCL_OK;
}

nncl_status nncl_onnx_read(const char *path, nncl_onnx_file *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return nncl_fail(NNCL_ERROR_IO, "%s: cannot open", path);
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    rewind(f);
    nncl_status st = NNCL_OK;
    if (size < 0 || (size_t)size > NNCL_ONNX_MAX_BYTES)
        st = nncl_fail(NNCL_ERROR_IO, "%s: cannot read its size, or larger than 2 GiB", path);
    uint8_t *bytes = st == NNCL_OK ? malloc((size_t)size + 1) : NULL;
    if (st == NNCL_OK && !bytes)
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: %ld bytes", path, size);
    if (st == NNCL_OK && fread(bytes, 1, (size_t)size, f) != (size_t)size)
        st = nncl_fail(NNCL_ERROR_IO, "%s: read error", path);
    fclose(f);
    if (st == NNCL_OK) st = nncl_onnx_parse(bytes, (size_t)size, path, out);
    free(bytes);
    return st;
}

void nncl_onnx_close(nncl_onnx_file *f) {
    if (f && f->model) nncl_onnx__model_proto__free_unpacked(f->model, NULL);
    if (f) memset(f, 0, sizeof *f);
}

/* Element i of a checked tensor as a double: from raw little-endian bytes
 * or from the typed field. */
static double tensor_element(const NnclOnnx__TensorProto *t, int64_t i) {
    size_t elem = elem_size(t->data_type);
    if (!t->has_raw_data) {
        switch (t->data_type) {
        case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            return t->float_data[i];
        case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
            return (double)t->int64_data[i];
        case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
            return t->double_data[i];
        case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
        case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
            return (double)t->uint64_data[i];
        default:
            return t->int32_data[i];
        }
    }
    const uint8_t *p = t->raw_data.data + (size_t)i * elem;
    uint64_t bits = 0;
    for (size_t b = 0; b < elem; b++)
        bits |= (uint64_t)p[b] << (8 * b);
    switch (t->data_type) {
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: {
        uint32_t u = (uint32_t)bits;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64: {
        int shift = 64 - 8 * (int)elem; /* sign-extend */
        return (double)((int64_t)(bits << shift) >> shift);
    }
    default:
        return (double)bits;
    }
}

nncl_status nncl_onnx_tensor_floats(const NnclOnnx__TensorProto *t, float **values,
                                    int64_t *count) {
    int64_t n = tensor_numel(t);
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "ONNX tensor '%s'", t->name ? t->name : "");
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)tensor_element(t, i);
    *values = v;
    *count = n;
    return NNCL_OK;
}

/* Element i of a checked integer tensor, exactly (int64's whole range). */
static int64_t tensor_integer(const NnclOnnx__TensorProto *t, int64_t i) {
    if (!t->has_raw_data) {
        switch (t->data_type) {
        case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
            return t->int64_data[i];
        case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
        case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
            return (int64_t)t->uint64_data[i];
        default:
            return t->int32_data[i];
        }
    }
    size_t elem = elem_size(t->data_type);
    const uint8_t *p = t->raw_data.data + (size_t)i * elem;
    uint64_t bits = 0;
    for (size_t b = 0; b < elem; b++)
        bits |= (uint64_t)p[b] << (8 * b);
    bool is_signed = t->data_type == NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ||
                     t->data_type == NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT16 ||
                     t->data_type == NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ||
                     t->data_type == NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    int shift = 64 - 8 * (int)elem;
    return is_signed ? (int64_t)(bits << shift) >> shift : (int64_t)bits;
}

nncl_status nncl_onnx_tensor_ints(const NnclOnnx__TensorProto *t, int64_t **values,
                                  int64_t *count) {
    int64_t n = tensor_numel(t);
    int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "ONNX tensor '%s'", t->name ? t->name : "");
    bool floating = t->data_type == NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                    t->data_type == NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    for (int64_t i = 0; i < n; i++) {
        if (!floating) {
            v[i] = tensor_integer(t, i);
            continue;
        }
        double d = tensor_element(t, i);
        if (!(d == floor(d) && fabs(d) < 9007199254740992.0)) {
            free(v);
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "ONNX tensor '%s': element %lld is %g where a whole number is needed",
                             t->name ? t->name : "", (long long)i, d);
        }
        v[i] = (int64_t)d;
    }
    *values = v;
    *count = n;
    return NNCL_OK;
}

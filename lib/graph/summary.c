/* The graph summary: one row per node (name, op, output shape, parameter
 * count, multiply-adds) and the totals, laid out like torchsummary /
 * torchinfo / Keras summary(). */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct text {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static void append(text *t, const char *fmt, ...) NNCL_PRINTF(2, 3);
static void append(text *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
}

/* 421834 -> "421,834" */
static const char *grouped(int64_t v, char *buf) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

nncl_status nncl_graph_summary(const nncl_graph *g, char **out) {
    if (!g || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_summary: NULL argument");
    *out = NULL;
    text t = {.buf = malloc(1024), .cap = 1024};
    if (!t.buf) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_graph_summary: out of memory");
    t.buf[0] = '\0';
    const char *rule = "-------------------------------------------------------------------------"
                       "-----------------------------\n";
    append(&t, "%s%-24s %-20s %-26s %12s %16s\n%s", rule, "Layer (name)", "Op", "Output shape",
           "Params", "Mult-adds", rule);
    int64_t trainable = 0, frozen = 0, buffers = 0, activations = 0, macs = 0;
    char shape[128], num[48], mnum[48];
    for (size_t i = 0; i < g->n_nodes; i++) {
        const nncl_node *node = g->nodes[i];
        int64_t count = 0, frozen_here = 0;
        for (size_t k = 0; k < node->n_params; k++) {
            const nncl_param_entry *p = &g->params[node->first_param + k];
            if (p->trainable)
                count += p->numel;
            else
                buffers += p->numel;
            if (p->trainable && p->frozen) frozen_here += p->numel;
        }
        trainable += count;
        frozen += frozen_here;
        activations += nncl_shape_numel(node->shape);
        char op[64];
        snprintf(op, sizeof op, "%s%s%s", nncl_op_name(node->op), node->fused_act ? "+" : "",
                 node->fused_act ? nncl_op_name(node->fused_act->op) : "");
        int64_t node_macs = node->vt->macs ? node->vt->macs(node) : 0;
        macs += node_macs;
        append(&t, "%-24s %-20s %-26s %12s %16s%s\n", node->name, op,
               nncl_shape_str(node->shape, shape, sizeof shape), grouped(count, num),
               node->vt->macs ? grouped(node_macs, mnum) : "--",
               !frozen_here           ? ""
               : frozen_here == count ? "  frozen"
                                      : "  part frozen");
    }
    append(&t, "%s", rule);
    append(&t, "Total params: %s\n", grouped(trainable, num));
    append(&t, "Trainable params: %s\n", grouped(trainable - frozen, num));
    append(&t, "Frozen params: %s\n", grouped(frozen, num));
    append(&t, "Non-trainable buffers: %s\n", grouped(buffers, num));
    append(&t, "Mult-adds (forward): %s\n", grouped(macs, num));
    append(&t, "Parameter memory: %.2f MB\n", (double)(trainable + buffers) * 4.0 / 1048576.0);
    append(&t, "Activation memory (forward): %.2f MB\n%s", (double)activations * 4.0 / 1048576.0,
           rule);
    if (t.failed) {
        free(t.buf);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_graph_summary: out of memory");
    }
    *out = t.buf;
    return NNCL_OK;
}

void nncl_free(void *ptr) {
    free(ptr);
}

uint64_t nncl_graph_activation_bytes(nncl_graph *g) {
    if (!g) return 0;
    nncl_mark_gradients(g);
    uint64_t total = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        uint64_t bytes = (uint64_t)nncl_shape_numel(g->nodes[i]->shape) * 4; /* float32, int32 */
        total += g->nodes[i]->requires_grad ? 2 * bytes : bytes;
    }
    return total;
}

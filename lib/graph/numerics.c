/* The numerical health check (nncl_context_options.check_numerics): after
 * each op's forward and backward, and after each optimizer update, the
 * values just written are read back; the first NaN or infinity stops the
 * run with the op, the node, the pass and its inputs' statistics, which is
 * where a diverging network's trouble starts. Debugging only: every check
 * waits for the device. */
#include "graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct stats {
    size_t count, nonfinite, first_bad;
    float first_bad_value;
    double min, max, sum; /* over the finite values */
} stats;

static nncl_status stats_of(nncl_context *ctx, cl_mem mem, size_t count, stats *out) {
    *out = (stats){.count = count, .min = INFINITY, .max = -INFINITY};
    float *host = malloc(count * sizeof *host);
    if (!host) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "numerics check: out of host memory");
    nncl_status st = nncl_buffer_read(ctx, mem, 0, host, count * sizeof *host);
    for (size_t i = 0; st == NNCL_OK && i < count; i++) {
        float v = host[i];
        if (!isfinite(v)) {
            if (!out->nonfinite++) {
                out->first_bad = i;
                out->first_bad_value = v;
            }
            continue;
        }
        out->min = v < out->min ? v : out->min;
        out->max = v > out->max ? v : out->max;
        out->sum += v;
    }
    free(host);
    return st;
}

/* "'name' [shape] min a max b mean c (n non-finite)" appended to buf. */
static void describe(char *buf, size_t size, const char *name, nncl_shape shape, const stats *s) {
    size_t used = 0;
    while (used < size && buf[used])
        used++;
    char dims[128];
    size_t finite = s->count - s->nonfinite;
    if (finite)
        snprintf(buf + used, size - used, "%s'%s' %s min %g max %g mean %g (%zu non-finite)",
                 used ? "; " : "", name, nncl_shape_str(shape, dims, sizeof dims), s->min, s->max,
                 s->sum / (double)finite, s->nonfinite);
    else
        snprintf(buf + used, size - used, "%s'%s' %s all %zu values non-finite", used ? "; " : "",
                 name, nncl_shape_str(shape, dims, sizeof dims), s->count);
}

/* The statistics of what node read: its inputs' values and parameters. */
static nncl_status inputs_text(nncl_graph *g, const nncl_node *node, char *buf, size_t size) {
    buf[0] = '\0';
    for (int32_t k = 0; k < node->n_inputs; k++) {
        const nncl_node *x = node->inputs[k];
        if (x->is_labels || !nncl_memplan_holds(g, x, false)) continue;
        stats s;
        nncl_status st = stats_of(g->ctx, x->out, (size_t)nncl_shape_numel(x->shape), &s);
        if (st != NNCL_OK) return st;
        describe(buf, size, x->name, x->shape, &s);
    }
    for (size_t i = 0; i < node->n_params; i++) {
        const nncl_param_entry *p = nncl_node_param(g, node, i);
        stats s;
        nncl_status st = stats_of(g->ctx, p->value, (size_t)p->numel, &s);
        if (st != NNCL_OK) return st;
        describe(buf, size, p->name, p->shape, &s);
    }
    return NNCL_OK;
}

/* Checks `count` floats of mem, written by node's `pass` as `what`. */
static nncl_status check(nncl_graph *g, const nncl_node *node, const char *pass, const char *what,
                         cl_mem mem, size_t count) {
    stats s;
    nncl_status st = stats_of(g->ctx, mem, count, &s);
    if (st != NNCL_OK || !s.nonfinite) return st;
    char inputs[2048];
    if ((st = inputs_text(g, node, inputs, sizeof inputs)) != NNCL_OK) return st;
    return nncl_fail(NNCL_ERROR_NUMERICS,
                     "op '%s' node '%s', %s: %zu of %zu values of %s are not finite (first: %g "
                     "at %zu); it read %s",
                     nncl_op_name(node->op), node->name, pass, s.nonfinite, s.count, what,
                     (double)s.first_bad_value, s.first_bad, inputs[0] ? inputs : "nothing");
}

/* node's learning parameters after `pass`: their gradients or values. */
static nncl_status check_params(nncl_graph *g, const nncl_node *node, const char *pass,
                                bool gradients) {
    nncl_status st = NNCL_OK;
    for (size_t i = 0; i < node->n_params && st == NNCL_OK; i++) {
        const nncl_param_entry *p = nncl_node_param(g, node, i);
        if (!nncl_param_learns(p)) continue;
        char what[300];
        snprintf(what, sizeof what, "%s '%s'", gradients ? "the gradient of" : "parameter",
                 p->name);
        st = check(g, node, pass, what, gradients ? p->grad : p->value, (size_t)p->numel);
    }
    return st;
}

nncl_status nncl_numerics_forward(nncl_graph *g, const nncl_node *node) {
    if (node->is_labels) return NNCL_OK;
    size_t n = (size_t)nncl_shape_numel(node->shape);
    nncl_status st = node->writes_value && !nncl_node_is_input(node)
                         ? check(g, node, "forward", "its output", node->out, n)
                         : NNCL_OK;
    if (st == NNCL_OK && node->fused_act)
        st = check(g, node, "forward", "its fused activation's output", node->fused_act->out, n);
    return st;
}

nncl_status nncl_numerics_backward(nncl_graph *g, const nncl_node *node) {
    nncl_status st = NNCL_OK;
    for (int32_t k = 0; k < node->n_inputs && st == NNCL_OK; k++) {
        const nncl_node *x = node->inputs[k];
        if (!x->requires_grad) continue;
        char what[300];
        snprintf(what, sizeof what, "the gradient of input '%s'", x->name);
        st = check(g, node, "backward", what, x->grad, (size_t)nncl_shape_numel(x->shape));
    }
    return st == NNCL_OK ? check_params(g, node, "backward", true) : st;
}

nncl_status nncl_numerics_update(nncl_graph *g) {
    nncl_status st = NNCL_OK;
    for (size_t n = 0; n < g->n_nodes && st == NNCL_OK; n++)
        st = check_params(g, g->nodes[n], "optimizer update", false);
    return st;
}

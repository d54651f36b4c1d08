/* Running a planned graph: setting inputs, the forward walk in node order
 * and the backward walk in reverse, each node's launches queued through
 * its op's table entry, and reading results back. Work is queued without
 * host synchronisation; only reads wait. */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nncl_status nncl_node_fail(const nncl_node *node, nncl_status status, const char *fmt, ...) {
    char detail[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return nncl_fail(status, "op '%s' node '%s': %s", nncl_op_name(node->op), node->name, detail);
}

nncl_status nncl_node_aux(nncl_graph *g, nncl_node *node, int slot, size_t bytes) {
    return node->aux[slot] ? NNCL_OK : nncl_buffer_create(g->ctx, bytes, &node->aux[slot]);
}

nncl_status nncl_graph_write_input(nncl_graph *g, nncl_node *input, const void *data, size_t bytes,
                                   cl_event *done) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_set_input");
    if (st != NNCL_OK) return st;
    if (!input || input->graph != g || !nncl_node_is_input(input))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_set_input: the node is not an input of this graph");
    if (input->vt->flags & NNCL_OPFLAG_OWN_SETTER)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_set_input: input '%s' (%s) is set by a call of its own",
                         input->name, nncl_op_name(input->op));
    if (!data || bytes != nncl_node_bytes(input))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_set_input: input '%s' takes %zu bytes, got %zu%s", input->name,
                         nncl_node_bytes(input), bytes, data ? "" : " (data is NULL)");
    for (size_t n = 0; input->is_labels && n < g->n_nodes; n++) {
        const nncl_node *user = g->nodes[n];
        for (int32_t k = 0; k < user->n_inputs && user->vt->check_labels; k++)
            if (user->inputs[k] == input &&
                (st = user->vt->check_labels(user, k, data, nncl_shape_numel(input->shape))) !=
                    NNCL_OK)
                return st;
    }
    if ((st = nncl_plan_ensure(g)) != NNCL_OK) return st;
    input->value_set = true;
    if (!done) return nncl_buffer_write(g->ctx, input->out, 0, data, bytes);
    cl_int err =
        clEnqueueWriteBuffer(g->ctx->queue, input->out, CL_FALSE, 0, bytes, data, 0, NULL, done);
    return err == CL_SUCCESS ? NNCL_OK : nncl_fail_cl(err, "clEnqueueWriteBuffer");
}

nncl_status nncl_graph_memory(nncl_graph *g, nncl_graph_memory_info *info) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_memory");
    if (st == NNCL_OK && !info)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_memory: info is NULL");
    if (st != NNCL_OK || (st = nncl_plan_ensure(g)) != NNCL_OK) return st;
    *info = (nncl_graph_memory_info){.values_planned = g->planned_bytes,
                                     .values_unshared = g->unshared_bytes,
                                     .workspace = g->workspace_bytes};
    for (size_t i = 0; i < g->n_params; i++)
        info->parameters += (uint64_t)g->params[i].numel * 4 * (g->params[i].grad ? 2 : 1);
    return NNCL_OK;
}

nncl_status nncl_graph_set_input(nncl_graph *g, nncl_node *input, const void *data, size_t bytes) {
    return nncl_graph_write_input(g, input, data, bytes, NULL);
}

void nncl_graph_set_training(nncl_graph *g, bool training) {
    if (g) g->training = training;
}

nncl_status nncl_graph_forward(nncl_graph *g) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_forward");
    if (st != NNCL_OK || (st = nncl_plan_ensure(g)) != NNCL_OK) return st;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const nncl_node *node = g->nodes[i];
        if (nncl_node_is_input(node) && !node->is_labels && !node->value_set)
            return nncl_fail(NNCL_ERROR_STATE,
                             "nncl_graph_forward: input '%s' was never set (nncl_graph_set_input "
                             "or nncl_loader_next)",
                             node->name);
    }
    if (g->training) g->step++;
    for (size_t i = 0; i < g->n_nodes; i++) {
        nncl_node *node = g->nodes[i];
        node->ran_training = g->training && !node->eval_only;
        nncl_launch_sites_enter(g->ctx, &node->launches[node->ran_training ? 0 : 1],
                                node->vt->profile_forward);
        st = node->vt->forward(g, node);
        nncl_launch_sites_leave(g->ctx);
        if (st != NNCL_OK) {
            g->forward_done = false;
            return st;
        }
        if (node->writes_value) nncl_memplan_claim(g, node, false);
        if (g->ctx->check_numerics && (st = nncl_numerics_forward(g, node)) != NNCL_OK) {
            g->forward_done = false;
            return st;
        }
    }
    g->forward_done = true;
    return NNCL_OK;
}

/* Marks the nodes whose gradient the backward pass from `output` computes,
 * and for each of their inputs whether an earlier-run consumer already
 * wrote that input's gradient (then this one adds to it). */
static nncl_status mark_backward(nncl_graph *g, nncl_node *output) {
    bool *written = calloc(g->n_nodes, sizeof *written);
    if (!written) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_graph_backward: out of memory");
    for (size_t i = 0; i < g->n_nodes; i++)
        g->nodes[i]->in_backward = false;
    output->in_backward = output->requires_grad;
    for (int32_t i = output->index; i >= 0; i--) {
        nncl_node *node = g->nodes[i];
        if (!node->in_backward) continue;
        for (int32_t k = 0; k < node->n_inputs; k++)
            if (node->inputs[k]->requires_grad) node->inputs[k]->in_backward = true;
    }
    for (int32_t i = output->index; i >= 0; i--) {
        nncl_node *node = g->nodes[i];
        if (!node->in_backward) continue;
        for (int32_t k = 0; k < node->n_inputs; k++) {
            int32_t in = node->inputs[k]->index;
            node->accumulate[k] = written[in];
            written[in] = true;
        }
    }
    free(written);
    return NNCL_OK;
}

/* A second backward after one forward finds the values it needs reused by
 * gradients of the first: refuse it, as PyTorch does without retain_graph. */
static nncl_status check_saved(const nncl_graph *g) {
    for (size_t i = 0; i < g->n_nodes; i++) {
        const nncl_node *node = g->nodes[i];
        uint32_t saves = node->in_backward && node->vt->saves ? node->vt->saves(node) : 0;
        for (int32_t k = 0; k < node->n_inputs; k++) {
            const nncl_node *x = node->inputs[k];
            if ((saves & NNCL_SAVES_INPUT(k)) && !nncl_memplan_holds(g, x, false))
                return nncl_fail(NNCL_ERROR_STATE,
                                 "nncl_graph_backward: node '%s' needs the value of '%s', whose "
                                 "memory a previous backward pass reused; run nncl_graph_forward "
                                 "again, or create the graph with keep_values",
                                 node->name, x->name);
        }
        if ((saves & NNCL_SAVES_OUTPUT) && !nncl_memplan_holds(g, node, false))
            return nncl_fail(NNCL_ERROR_STATE,
                             "nncl_graph_backward: node '%s' needs its own value, whose memory a "
                             "previous backward pass reused; run nncl_graph_forward again, or "
                             "create the graph with keep_values",
                             node->name);
    }
    return NNCL_OK;
}

nncl_status nncl_graph_backward(nncl_graph *g, nncl_node *output, const float *grad_output,
                                size_t bytes) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_backward");
    if (st != NNCL_OK) return st;
    if (!output || output->graph != g)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_backward: output is not a node of this graph");
    if (!g->forward_done || !g->planned)
        return nncl_fail(NNCL_ERROR_STATE,
                         "nncl_graph_backward: run nncl_graph_forward first (after the last "
                         "change to the graph)");
    if (output->is_labels)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_backward: '%s' is a labels input",
                         output->name);
    size_t numel = (size_t)nncl_shape_numel(output->shape);
    if (grad_output && bytes != numel * sizeof(float))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_backward: grad_output for '%s' takes %zu bytes, got %zu",
                         output->name, numel * sizeof(float), bytes);
    if (!grad_output && numel != 1)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_backward: '%s' has %zu elements; pass grad_output for a "
                         "non-scalar output",
                         output->name, numel);
    if (!output->requires_grad) return NNCL_OK; /* nothing upstream wants a gradient */
    if ((st = mark_backward(g, output)) != NNCL_OK) return st;
    if ((st = check_saved(g)) != NNCL_OK) return st;
    nncl_memplan_claim(g, output, true);
    st = grad_output ? nncl_buffer_write(g->ctx, output->grad, 0, grad_output, bytes)
                     : nncl_buffer_fill(g->ctx, output->grad, 1.0f, 1);
    const nncl_collective *dist = g->collective;
    if (st == NNCL_OK && dist) st = dist->begin(dist->arg);
    for (int32_t i = output->index; i >= 0 && st == NNCL_OK; i--) {
        nncl_node *node = g->nodes[i];
        if (!node->in_backward || node->n_inputs + (int32_t)node->n_params == 0) continue;
        nncl_launch_sites_enter(g->ctx, &node->launches[2], node->vt->profile_backward);
        st = node->vt->backward(g, node);
        nncl_launch_sites_leave(g->ctx);
        for (int32_t k = 0; k < node->n_inputs; k++)
            if (node->inputs[k]->requires_grad) nncl_memplan_claim(g, node->inputs[k], true);
        if (st == NNCL_OK && g->ctx->check_numerics) st = nncl_numerics_backward(g, node);
        if (st == NNCL_OK && dist && node->n_params) st = dist->node_done(dist->arg, i);
    }
    if (st == NNCL_OK && dist) st = dist->end(dist->arg);
    return st;
}

nncl_status nncl_graph_zero_grad(nncl_graph *g) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_zero_grad");
    if (st != NNCL_OK) return st;
    for (size_t i = 0; i < g->n_packs && st == NNCL_OK; i++)
        st = nncl_buffer_fill(g->ctx, g->packs[i].grad, 0.0f, g->packs[i].floats);
    for (size_t i = 0; i < g->n_params && st == NNCL_OK; i++)
        if (g->params[i].grad && g->params[i].pack < 0)
            st = nncl_buffer_fill(g->ctx, g->params[i].grad, 0.0f, (size_t)g->params[i].numel);
    return st;
}

nncl_status nncl_graph_finish(nncl_graph *g) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_finish");
    if (st != NNCL_OK) return st;
    cl_int err = clFinish(g->ctx->queue);
    return err == CL_SUCCESS ? NNCL_OK : nncl_fail_cl(err, "clFinish");
}

static nncl_status read_node(nncl_graph *g, const nncl_node *node, void *dst, size_t bytes,
                             bool grad, const char *call) {
    nncl_status st = nncl_graph_check(g, call);
    if (st != NNCL_OK) return st;
    if (!node || node->graph != g || !dst)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: %s", call,
                         dst ? "node is not in this graph" : "dst is NULL");
    if (bytes != nncl_node_bytes(node))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: node '%s' holds %zu bytes, got %zu",
                         call, node->name, nncl_node_bytes(node), bytes);
    if (!g->forward_done)
        return nncl_fail(NNCL_ERROR_STATE, "%s: node '%s' has no value: run nncl_graph_forward",
                         call, node->name);
    if (!grad && node->bias_into)
        return nncl_fail(NNCL_ERROR_STATE,
                         "%s: node '%s' holds its value without its bias, which batch norm '%s' "
                         "adds. Call nncl_graph_keep(g, node) before running the graph to keep "
                         "it readable",
                         call, node->name, node->bias_into->name);
    cl_mem mem = grad ? node->grad : node->out;
    if (!mem)
        return nncl_fail(NNCL_ERROR_STATE,
                         "%s: node '%s' has no gradient (does it depend on a trainable "
                         "parameter or an input that requires one?)",
                         call, node->name);
    if ((st = nncl_memplan_check(g, node, grad, call)) != NNCL_OK) return st;
    return nncl_buffer_read(g->ctx, mem, 0, dst, bytes);
}

nncl_status nncl_graph_read(nncl_graph *g, const nncl_node *node, float *dst, size_t bytes) {
    return read_node(g, node, dst, bytes, false, "nncl_graph_read");
}

nncl_status nncl_graph_read_grad(nncl_graph *g, const nncl_node *node, float *dst, size_t bytes) {
    return read_node(g, node, dst, bytes, true, "nncl_graph_read_grad");
}

nncl_status nncl_graph_read_labels(nncl_graph *g, const nncl_node *node, int32_t *dst,
                                   size_t bytes) {
    if (node && !node->is_labels)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_read_labels: node '%s' holds floats; read it with "
                         "nncl_graph_read",
                         node->name);
    return read_node(g, node, dst, bytes, false, "nncl_graph_read_labels");
}

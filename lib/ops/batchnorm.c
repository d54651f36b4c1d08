/* Batch normalisation over dim 1 for NC, NCW, NCHW and NCDHW inputs
 * (Ioffe & Szegedy 2015), with PyTorch's running-statistics convention:
 * momentum 0.1 by default and the unbiased variance in running_var; in a
 * data-parallel graph optionally over every rank's batch (SyncBatchNorm). */
#include "ops.h"

#include <math.h>
#include <stdlib.h>

typedef struct bn_attrs {
    float eps, momentum;
    bool affine;
    int64_t batches_tracked; /* PyTorch's num_batches_tracked */
    double global_count;     /* values per channel over all ranks in the last synced pass */
} bn_attrs;

static bn_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

nncl_node *nncl_batch_norm(nncl_graph *g, nncl_node *x, const nncl_batch_norm_params *params,
                           const char *name) {
    if (!nncl_builder_ready(g, "batch_norm", &x, 1)) return NULL;
    char s[128];
    if (x->is_labels || x->shape.rank < 2)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "batch_norm", name,
                               "input %s must be [N, C, ...] features",
                               nncl_shape_str(x->shape, s, sizeof s));
    nncl_batch_norm_params p = params ? *params : (nncl_batch_norm_params){0};
    if (!(p.eps >= 0 && isfinite(p.eps)) || !(p.momentum >= 0 && p.momentum <= 1))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "batch_norm", name,
                               "eps %g must be >= 0 and momentum %g in [0, 1]", (double)p.eps,
                               (double)p.momentum);
    nncl_node *node = nncl_node_add(g, NNCL_OP_BATCH_NORM, name, &x, 1, x->shape);
    if (!node) return NULL;
    bn_attrs *a = node->attrs;
    a->eps = p.eps > 0 ? p.eps : 1e-5f;
    a->momentum = p.momentum > 0 ? p.momentum : 0.1f;
    a->affine = !p.no_affine;
    nncl_shape c = NNCL_SHAPE(x->shape.dims[1]);
    if (a->affine && (!nncl_param_add(g, node, "weight", c, true, NNCL_FILL_CONSTANT(1.0f)) ||
                      !nncl_param_add(g, node, "bias", c, true, NNCL_FILL_CONSTANT(0.0f))))
        return NULL;
    if (!nncl_param_add(g, node, "running_mean", c, false, NNCL_FILL_CONSTANT(0.0f)) ||
        !nncl_param_add(g, node, "running_var", c, false, NNCL_FILL_CONSTANT(1.0f)))
        return NULL;
    return node;
}

typedef struct bn_refs {
    cl_mem gamma, beta, dgamma, dbeta, running_mean, running_var;
    cl_mem input_bias; /* the producer's bias left to this node (fuse.c), else running_mean */
    cl_int biased;
    cl_int batch, channels, inner, rows, affine; /* rows: batch * channels */
    cl_int learn;                                /* gamma and beta take gradients */
} bn_refs;

static bn_refs refs_of(nncl_graph *g, const nncl_node *node) {
    bn_refs r = {0};
    size_t at = 0;
    r.affine = attrs_of(node)->affine;
    if (r.affine) {
        r.gamma = nncl_node_param(g, node, 0)->value;
        r.dgamma = nncl_node_param(g, node, 0)->grad;
        r.beta = nncl_node_param(g, node, 1)->value;
        r.dbeta = nncl_node_param(g, node, 1)->grad;
        r.learn = nncl_param_learns(nncl_node_param(g, node, 0));
        at = 2;
    }
    r.running_mean = nncl_node_param(g, node, at)->value;
    r.running_var = nncl_node_param(g, node, at + 1)->value;
    if (!r.affine) /* unused by the kernels, but arguments must be buffers */
        r.gamma = r.beta = r.dgamma = r.dbeta = r.running_mean;
    const nncl_node *x = node->inputs[0];
    r.biased = x->bias_into == node;
    r.input_bias = r.biased ? nncl_node_param(g, x, 1)->value : r.running_mean;
    r.batch = (cl_int)node->shape.dims[0];
    r.channels = (cl_int)node->shape.dims[1];
    r.inner = (cl_int)nncl_shape_inner(node->shape, 2);
    r.rows = r.batch * r.channels;
    return r;
}

static nncl_status bn_plan(nncl_graph *g, nncl_node *node) {
    /* aux: 0 mean, 1 1/std of the last forward, 2 the two backward sums */
    size_t c = (size_t)node->shape.dims[1] * sizeof(float);
    nncl_status st = nncl_node_aux(g, node, 0, c);
    if (st == NNCL_OK) st = nncl_node_aux(g, node, 1, c);
    return st == NNCL_OK ? nncl_node_aux(g, node, 2, 2 * c) : st;
}

/* A per-channel reduction: a work-group per channel, or one work-item per
 * channel (the "_items" kernel) for channels of at most 4096 values, where
 * a group's barriers cost more than its values (resnet18's [32, 512, 4, 4]
 * batch norm: 3 ms a pass by groups on PoCL, 0.12 ms by items), and on CPU
 * devices whenever the channels keep every core busy (a core runs a
 * group's items one after another anyway: 128 channels of 8192 values,
 * 1.2 ms against 0.6 ms). */
static nncl_status per_channel(nncl_graph *g, const bn_refs *r, const char *groups,
                               const char *items, const nncl_arg *args, size_t n_args) {
    const nncl_device_info *info = &g->ctx->info;
    size_t cores = info->compute_units ? info->compute_units : 1;
    if ((int64_t)r->batch * r->inner <= 4096 ||
        (info->type == NNCL_DEVICE_CPU && (size_t)r->channels >= 4 * cores))
        return nncl_launch(g->ctx, items, (size_t)r->channels, args, n_args);
    return nncl_launch_groups(g->ctx, groups, (size_t)r->channels, g->ctx->reduce_size, args,
                              n_args);
}

/* Reads n floats of each listed buffer into one host array of n * count. */
static nncl_status read_all(nncl_graph *g, const cl_mem *bufs, int count, size_t n, float *out) {
    nncl_status st = NNCL_OK;
    for (int k = 0; k < count && st == NNCL_OK; k++)
        st = nncl_buffer_read(g->ctx, bufs[k], 0, out + (size_t)k * n, n * sizeof(float));
    return st;
}

/* Synchronised statistics: the kernel left this rank's mean and 1/std
 * (running statistics untouched); they become the global batch's, and the
 * running update follows from those. Ranks combine counts, and sums about
 * a shift K common to all ranks (the running mean) so that the variance
 * needs no difference of large sums: sum n_r (m_r - K) and
 * sum n_r (var_r + (m_r - K)^2) (Chan, Golub & LeVeque 1983). */
static nncl_status sync_stats(nncl_graph *g, nncl_node *node, const bn_refs *r) {
    bn_attrs *a = attrs_of(node);
    size_t C = (size_t)r->channels;
    float *host = malloc(5 * C * sizeof *host);
    double *sums = malloc((2 * C + 1) * sizeof *sums);
    if (!host || !sums) {
        free(host);
        free(sums);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "synchronised batch norm: out of memory");
    }
    float *mean = host, *invstd = host + C, *rmean = host + 2 * C, *rvar = host + 3 * C,
          *bias = host + 4 * C;
    cl_mem bufs[5] = {node->aux[0], node->aux[1], r->running_mean, r->running_var, r->input_bias};
    nncl_status st = read_all(g, bufs, 5, C, host);
    double n = (double)r->batch * (double)r->inner;
    for (size_t c = 0; c < C; c++) {
        double d = (double)mean[c] - rmean[c], is = invstd[c];
        sums[c] = n * d;
        sums[C + c] = n * (1.0 / (is * is) - a->eps + d * d);
    }
    sums[2 * C] = n;
    if (st == NNCL_OK) st = g->collective->sync_sum(g->collective->arg, sums, 2 * C + 1);
    double N = sums[2 * C], m = a->momentum;
    for (size_t c = 0; c < C && st == NNCL_OK; c++) {
        double d = sums[c] / N, var = fmax(sums[C + c] / N - d * d, 0.0), gm = rmean[c] + d;
        mean[c] = (float)gm;
        invstd[c] = (float)(1.0 / sqrt(var + a->eps));
        rmean[c] = (float)((1 - m) * rmean[c] + m * (r->biased ? gm + bias[c] : gm));
        rvar[c] = (float)((1 - m) * rvar[c] + m * var * N / (N - 1));
    }
    for (int k = 0; k < 4 && st == NNCL_OK; k++)
        st = nncl_buffer_write(g->ctx, bufs[k], 0, host + (size_t)k * C, C * sizeof(float));
    a->global_count = N;
    free(host);
    free(sums);
    return st;
}

/* Synchronised backward: the per-channel sums of dy and dy * xhat over
 * every rank's batch (the parameter gradients keep this rank's). */
static nncl_status sync_dsums(nncl_graph *g, nncl_node *node, const bn_refs *r) {
    size_t n = 2 * (size_t)r->channels;
    float *host = malloc(n * sizeof *host);
    double *sums = malloc(n * sizeof *sums);
    nncl_status st =
        host && sums
            ? nncl_buffer_read(g->ctx, node->aux[2], 0, host, n * sizeof *host)
            : nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "synchronised batch norm: out of memory");
    for (size_t i = 0; st == NNCL_OK && i < n; i++)
        sums[i] = host[i];
    if (st == NNCL_OK) st = g->collective->sync_sum(g->collective->arg, sums, n);
    for (size_t i = 0; st == NNCL_OK && i < n; i++)
        host[i] = (float)sums[i];
    if (st == NNCL_OK) st = nncl_buffer_write(g->ctx, node->aux[2], 0, host, n * sizeof *host);
    free(host);
    free(sums);
    return st;
}

static bool synced(const nncl_graph *g, const nncl_node *node) {
    return node->ran_training && g->collective && g->collective->sync_sum;
}

static nncl_status bn_forward(nncl_graph *g, nncl_node *node) {
    bn_refs r = refs_of(g, node);
    cl_float eps = attrs_of(node)->eps, momentum = attrs_of(node)->momentum;
    nncl_status st = NNCL_OK;
    if (node->ran_training) {
        if ((int64_t)r.batch * r.inner < 2)
            return nncl_node_fail(node, NNCL_ERROR_SHAPE,
                                  "training needs more than one value per channel (input [%d, "
                                  "%d, ...] has %d)",
                                  r.batch, r.channels, r.batch * r.inner);
        attrs_of(node)->batches_tracked++;
        bool sync = synced(g, node);
        cl_float kernel_momentum = sync ? 0.0f : momentum; /* sync_stats updates them */
        st = per_channel(g, &r, "bn_batch_stats", "bn_batch_stats_items",
                         NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->aux[0]),
                                   NNCL_ARG(node->aux[1]), NNCL_ARG(r.running_mean),
                                   NNCL_ARG(r.running_var), NNCL_ARG(r.batch), NNCL_ARG(r.channels),
                                   NNCL_ARG(r.inner), NNCL_ARG(eps), NNCL_ARG(kernel_momentum),
                                   NNCL_ARG(r.input_bias), NNCL_ARG(r.biased)));
        if (st == NNCL_OK && sync) st = sync_stats(g, node, &r);
    }
    if (st != NNCL_OK) return st;
    cl_int relu = node->fused_act != NULL; /* then the ReLU's output is written instead */
    cl_int eval = !node->ran_training;
    cl_mem y = relu ? node->fused_act->out : node->out;
    return nncl_launch(g->ctx, "bn_apply", (size_t)r.rows,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(y),
                                 NNCL_ARG(node->aux[0]), NNCL_ARG(node->aux[1]), NNCL_ARG(r.gamma),
                                 NNCL_ARG(r.beta), NNCL_ARG(r.channels), NNCL_ARG(r.inner),
                                 NNCL_ARG(r.rows), NNCL_ARG(r.affine), NNCL_ARG(relu),
                                 NNCL_ARG(eval), NNCL_ARG(r.running_mean), NNCL_ARG(r.running_var),
                                 NNCL_ARG(eps), NNCL_ARG(r.input_bias), NNCL_ARG(r.biased)));
}

static nncl_status bn_backward(nncl_graph *g, nncl_node *node) {
    bn_refs r = refs_of(g, node);
    nncl_node *x = node->inputs[0];
    nncl_status st =
        per_channel(g, &r, "bn_backward_sums", "bn_backward_sums_items",
                    NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(x->out), NNCL_ARG(node->aux[0]),
                              NNCL_ARG(node->aux[1]), NNCL_ARG(node->aux[2]), NNCL_ARG(r.dgamma),
                              NNCL_ARG(r.dbeta), NNCL_ARG(r.batch), NNCL_ARG(r.channels),
                              NNCL_ARG(r.inner), NNCL_ARG(r.learn)));
    if (st != NNCL_OK || !x->requires_grad) return st;
    cl_float count = (cl_float)r.batch * (cl_float)r.inner;
    if (synced(g, node)) {
        st = sync_dsums(g, node, &r);
        count = (cl_float)attrs_of(node)->global_count;
    }
    if (st != NNCL_OK) return st;
    cl_int training = node->ran_training, acc = node->accumulate[0];
    return nncl_launch(g->ctx, "bn_backward_input", (size_t)r.rows,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(x->out), NNCL_ARG(node->aux[0]),
                                 NNCL_ARG(node->aux[1]), NNCL_ARG(r.gamma), NNCL_ARG(node->aux[2]),
                                 NNCL_ARG(x->grad), NNCL_ARG(r.channels), NNCL_ARG(r.inner),
                                 NNCL_ARG(r.rows), NNCL_ARG(count), NNCL_ARG(r.affine),
                                 NNCL_ARG(training), NNCL_ARG(acc)));
}

/* Backward normalises the input again from the saved statistics. */
static uint32_t bn_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

/* A ReLU after batch norm is applied by bn_apply, which then writes only
 * the ReLU's output. */
static nncl_fusion bn_absorbs(const nncl_node *producer, const nncl_node *act) {
    (void)producer;
    return act->op == NNCL_OP_RELU ? NNCL_FUSION_INSTEAD_VALUE : NNCL_FUSION_NONE;
}

static int64_t *bn_counter(nncl_node *node, const char **suffix) {
    *suffix = "num_batches_tracked";
    return &attrs_of(node)->batches_tracked;
}

/* Inference form: the running statistics; without affine parameters,
 * scale 1 and bias 0 as constants. */
static nncl_status bn_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const bn_attrs *a = attrs_of(node);
    int64_t c = node->shape.dims[1];
    size_t at = a->affine ? 2 : 0;
    float *ones = malloc((size_t)c * sizeof *ones), *zeros = calloc((size_t)c, sizeof *zeros);
    for (int64_t i = 0; ones && i < c; i++)
        ones[i] = 1.0f;
    const char *in[5] = {nncl_ox_value(node->inputs[0]),
                         a->affine ? nncl_ox_param(w, node, 0)
                         : ones    ? nncl_ox_const_floats(w, node, "scale", ones, NNCL_SHAPE(c))
                                   : NULL,
                         a->affine ? nncl_ox_param(w, node, 1)
                         : zeros   ? nncl_ox_const_floats(w, node, "B", zeros, NNCL_SHAPE(c))
                                   : NULL,
                         nncl_ox_param(w, node, at), nncl_ox_param(w, node, at + 1)};
    free(ones), free(zeros);
    int n = nncl_ox_add(w, "BatchNormalization", in, 5, nncl_ox_value(node));
    nncl_ox_float(w, n, "epsilon", a->eps);
    nncl_ox_float(w, n, "momentum", 1.0f - a->momentum); /* ONNX weighs the old statistics */
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_batchnorm = {.attrs_size = sizeof(bn_attrs),
                                          .flags = NNCL_OPFLAG_TAKES_BIAS,
                                          .profile_forward = NNCL_PROFILE_BATCH_NORM,
                                          .profile_backward = NNCL_PROFILE_BATCH_NORM,
                                          .plan = bn_plan,
                                          .forward = bn_forward,
                                          .backward = bn_backward,
                                          .saves = bn_saves,
                                          .absorbs = bn_absorbs,
                                          .counter = bn_counter,
                                          .to_onnx = bn_to_onnx};

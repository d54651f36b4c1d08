/* Gradient averaging during backward, as DDP buckets it: the packed
 * gradient buffers are cut into stretches in the order backward finishes
 * them; once the walk has passed every node owning a parameter in a
 * stretch, its copy to the host is queued and a thread reduces it over the
 * ranks and queues the mean back, while the device runs the layers below.
 * The end of the walk waits only for what is left. */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One parameter's gradient and the node that owns it. */
typedef struct grad_span {
    cl_mem grad;
    size_t offset, floats;
    int32_t owner;
} grad_span;

/* Backward order: later nodes first, and within a node the later offsets. */
static int backward_order(const void *pa, const void *pb) {
    const grad_span *a = pa, *b = pb;
    if (a->owner != b->owner) return a->owner > b->owner ? -1 : 1;
    return a->offset > b->offset ? -1 : a->offset < b->offset;
}

static void release_buckets(nncl_dist *d) {
    if (d->locks_ready) { /* the callback below must not outlive the dist */
        pthread_mutex_lock(&d->mu);
        while (d->callback_pending)
            pthread_cond_wait(&d->cv, &d->mu);
        pthread_mutex_unlock(&d->mu);
    }
    for (size_t i = 0; i < d->n_buckets; i++) {
        nncl_bucket *b = &d->buckets[i];
        cl_event pending[2] = {b->read, b->write};
        for (int k = 0; k < 2; k++)
            if (pending[k]) {
                clWaitForEvents(1, &pending[k]);
                clReleaseEvent(pending[k]);
            }
        free(b->host);
    }
    free(d->buckets);
    d->buckets = NULL;
    d->n_buckets = 0;
}

/* Cuts the graph's gradients into buckets of at most bucket_mb (a larger
 * parameter is a bucket of its own), each a contiguous stretch of one
 * buffer, in backward order. */
static nncl_status cut_buckets(nncl_dist *d) {
    release_buckets(d);
    nncl_graph *g = d->g;
    grad_span *spans = calloc(g->n_params ? g->n_params : 1, sizeof *spans);
    size_t n = 0;
    if (!spans)
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "data-parallel gradients: out of memory");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const nncl_node *node = g->nodes[i];
        for (size_t k = 0; k < node->n_params; k++) {
            const nncl_param_entry *p = &g->params[node->first_param + k];
            if (!p->trainable || !p->grad) continue;
            bool packed = p->pack >= 0;
            spans[n++] =
                (grad_span){.grad = packed ? g->packs[p->pack].grad : p->grad,
                            .offset = packed ? p->pack_offset : 0,
                            .floats = packed ? nncl_pack_span(g->ctx, p) : (size_t)p->numel,
                            .owner = (int32_t)i};
        }
    }
    qsort(spans, n, sizeof *spans, backward_order);
    d->buckets = calloc(n ? n : 1, sizeof *d->buckets);
    if (!d->buckets) {
        free(spans);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "data-parallel gradients: out of memory");
    }
    size_t limit = (size_t)(d->o.bucket_mb * 1048576.0 / sizeof(float));
    nncl_bucket *b = NULL;
    for (size_t i = 0; i < n; i++) {
        const grad_span *s = &spans[i];
        bool joins = b && b->grad == s->grad && s->offset + s->floats == b->offset &&
                     b->floats + s->floats <= limit;
        if (!joins) {
            b = &d->buckets[d->n_buckets++];
            *b = (nncl_bucket){.grad = s->grad, .offset = s->offset + s->floats};
        }
        b->offset -= s->floats;
        b->floats += s->floats;
        b->ready_at = s->owner; /* owners descend */
    }
    free(spans);
    d->layout_packs = g->n_packs;
    d->stats.buckets = (int64_t)d->n_buckets;
    d->stats.bytes = 0;
    for (size_t i = 0; i < d->n_buckets; i++) {
        d->stats.bytes += d->buckets[i].floats * sizeof(float);
        d->buckets[i].host = malloc(d->buckets[i].floats * sizeof(float));
        if (!d->buckets[i].host)
            return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "data-parallel gradients: out of memory");
    }
    return NNCL_OK;
}

/* Waits for a bucket's copy to the host, sums it over the ranks, scales
 * it to the mean and queues the copy back. */
static nncl_status reduce_bucket(nncl_dist *d, nncl_bucket *b, char *error, size_t size) {
    cl_int err = clWaitForEvents(1, &b->read);
    clReleaseEvent(b->read);
    b->read = NULL;
    if (err != CL_SUCCESS) {
        snprintf(error, size, "rank %d: copying gradients to the host: %s (%d)", d->rank,
                 nncl_cl_error_name(err), (int)err);
        return NNCL_ERROR_OPENCL;
    }
    double start = nncl_dist_now();
    nncl_status st = nncl_dist_allreduce(d, d->grad_comm, b->host, b->floats, MPI_FLOAT, MPI_SUM,
                                         "the gradient allreduce", error, size);
    d->stats.reduce_seconds += nncl_dist_now() - start;
    if (st != NNCL_OK) return st;
    float scale = 1.0f / (float)d->size;
    for (size_t i = 0; i < b->floats; i++)
        b->host[i] *= scale;
    st = nncl_buffer_write_async(d->g->ctx, b->grad, b->offset * sizeof(float), b->host,
                                 b->floats * sizeof(float), &b->write);
    if (st != NNCL_OK) snprintf(error, size, "rank %d: %s", d->rank, nncl_last_error());
    return st;
}

static void *reduce_thread(void *arg) {
    nncl_dist *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->quit && (d->reduced == d->handed || d->thread_status != NNCL_OK))
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->quit) break;
        nncl_bucket *b = &d->buckets[d->reduced];
        pthread_mutex_unlock(&d->mu);
        char error[sizeof d->thread_error];
        nncl_status st = reduce_bucket(d, b, error, sizeof error);
        if (st == NNCL_OK) clFlush(d->g->ctx->queue);
        pthread_mutex_lock(&d->mu);
        if (st == NNCL_OK) {
            d->reduced++;
        } else {
            d->thread_status = st;
            memcpy(d->thread_error, error, sizeof error);
        }
        pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* Runs when the last bucket's copy completes: the device has finished the
 * backward pass, and from here on waiting for the mean is exposed. */
static void CL_CALLBACK last_gradient_ready(cl_event event, cl_int status, void *arg) {
    (void)event, (void)status;
    nncl_dist *d = arg;
    pthread_mutex_lock(&d->mu);
    d->backward_done_at = nncl_dist_now();
    d->callback_pending = false;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Queues a bucket's copy to the host (the last one timed). */
static nncl_status copy_out(nncl_dist *d, size_t k) {
    nncl_bucket *b = &d->buckets[k];
    nncl_status st = nncl_buffer_read_async(d->g->ctx, b->grad, b->offset * sizeof(float), b->host,
                                            b->floats * sizeof(float), &b->read);
    if (st != NNCL_OK || k + 1 != d->n_buckets) return st;
    /* Unlocked while registering: a complete event may call back at once. */
    pthread_mutex_lock(&d->mu);
    d->callback_pending = true;
    pthread_mutex_unlock(&d->mu);
    if (clSetEventCallback(b->read, CL_COMPLETE, last_gradient_ready, d) != CL_SUCCESS) {
        pthread_mutex_lock(&d->mu); /* untimed, but never waited for */
        d->callback_pending = false;
        d->backward_done_at = nncl_dist_now();
        pthread_mutex_unlock(&d->mu);
    }
    return NNCL_OK;
}

/* Queues the copies of the buckets whose gradients are final once the
 * walk has passed node `index` (all of them for INT32_MIN). */
static nncl_status hand_over(nncl_dist *d, int32_t index) {
    size_t k = d->handed;
    nncl_status st = NNCL_OK;
    for (; k < d->n_buckets && d->buckets[k].ready_at >= index && st == NNCL_OK; k++)
        st = copy_out(d, k);
    if (k == d->handed || st != NNCL_OK) return st;
    clFlush(d->g->ctx->queue);
    pthread_mutex_lock(&d->mu);
    d->handed = k;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return NNCL_OK;
}

static nncl_status pass_begin(void *arg) {
    nncl_dist *d = arg;
    if (d->in_pass)
        d->broken = true; /* the last pass stopped midway: its buckets were never matched */
    if (d->broken)
        return nncl_fail(NNCL_ERROR_COMMUNICATION,
                         "rank %d: data-parallel backward: an earlier pass or collective failed, "
                         "so the ranks are out of step",
                         d->rank);
    nncl_status st = d->buckets && d->layout_packs == d->g->n_packs ? NNCL_OK : cut_buckets(d);
    if (st != NNCL_OK) return st;
    pthread_mutex_lock(&d->mu);
    d->handed = d->reduced = 0;
    d->backward_done_at = 0;
    pthread_mutex_unlock(&d->mu);
    d->in_pass = true;
    d->draining = false;
    return NNCL_OK;
}

static nncl_status pass_node_done(void *arg, int32_t index) {
    nncl_dist *d = arg;
    return d->overlap ? hand_over(d, index) : NNCL_OK;
}

/* Without the thread: every bucket in turn, here. */
static nncl_status reduce_here(nncl_dist *d) {
    nncl_status st = NNCL_OK;
    for (size_t k = 0; k < d->n_buckets && st == NNCL_OK; k++) {
        char error[sizeof d->thread_error];
        st = copy_out(d, k);
        if (st == NNCL_OK &&
            (st = reduce_bucket(d, &d->buckets[k], error, sizeof error)) != NNCL_OK)
            nncl_fail(st, "%s", error);
    }
    return st;
}

static nncl_status pass_end(void *arg) {
    nncl_dist *d = arg;
    nncl_status st = NNCL_OK;
    d->draining = true;
    if (d->overlap) {
        st = hand_over(d, INT32_MIN);
        pthread_mutex_lock(&d->mu);
        while (st == NNCL_OK && d->reduced < d->handed && d->thread_status == NNCL_OK)
            pthread_cond_wait(&d->cv, &d->mu);
        if (st == NNCL_OK && d->thread_status != NNCL_OK)
            st = nncl_fail(d->thread_status, "%s", d->thread_error);
        pthread_mutex_unlock(&d->mu);
    } else {
        st = reduce_here(d);
    }
    for (size_t k = 0; k < d->n_buckets && st == NNCL_OK; k++) {
        nncl_bucket *b = &d->buckets[k];
        cl_int err = clWaitForEvents(1, &b->write);
        clReleaseEvent(b->write);
        b->write = NULL;
        if (err != CL_SUCCESS) st = nncl_fail_cl(err, "copying averaged gradients back");
    }
    if (st != NNCL_OK) return st; /* in_pass stays set: the next pass refuses */
    pthread_mutex_lock(&d->mu);   /* callbacks may run after the event's waiters return */
    while (d->n_buckets && d->backward_done_at == 0)
        pthread_cond_wait(&d->cv, &d->mu);
    if (d->n_buckets) d->stats.wait_seconds += nncl_dist_now() - d->backward_done_at;
    pthread_mutex_unlock(&d->mu);
    d->stats.steps++;
    d->in_pass = false;
    return NNCL_OK;
}

static nncl_status sync_sum(void *arg, double *values, size_t n) {
    nncl_dist *d = arg;
    return nncl_dist_allreduce(d, d->comm, values, n, MPI_DOUBLE, MPI_SUM,
                               "synchronised batch norm", NULL, 0);
}

nncl_status nncl_dist_grads_start(nncl_dist *d) {
    nncl_status st = cut_buckets(d);
    if (st != NNCL_OK) return st;
    if (!d->locks_ready) {
        if (pthread_mutex_init(&d->mu, NULL) || pthread_cond_init(&d->cv, NULL))
            return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_dist_attach: cannot make a lock");
        d->locks_ready = true;
    }
    if (d->overlap) {
        d->quit = false;
        d->thread_status = NNCL_OK;
        if (pthread_create(&d->thread, NULL, reduce_thread, d))
            return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_dist_attach: cannot start a thread");
        d->thread_started = true;
    }
    d->hooks = (nncl_collective){.arg = d,
                                 .begin = pass_begin,
                                 .node_done = pass_node_done,
                                 .end = pass_end,
                                 .sync_sum = d->o.sync_batch_norm ? sync_sum : NULL};
    d->g->collective = &d->hooks;
    return NNCL_OK;
}

void nncl_dist_grads_stop(nncl_dist *d) {
    if (d->thread_started) {
        pthread_mutex_lock(&d->mu);
        d->quit = true;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->thread, NULL);
        d->thread_started = false;
    }
    release_buckets(d);
}

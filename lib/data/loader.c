/* The batch loader: a worker thread prepares the next batch (shuffled
 * order, augmentation, normalisation) into one of two host buffers while
 * the caller's step runs; nncl_loader_next queues the upload of the ready
 * buffer and sets the worker on the following batch. A buffer is refilled
 * only after its previous upload has completed. */
#include "../runtime/checked.h"
#include "data.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct nncl_loader {
    const nncl_dataset *ds;
    nncl_loader_options o;
    int64_t batches, image_size, label_size; /* values per sample */
    int64_t shard, shards;
    int64_t *order;
    int64_t order_epoch; /* the epoch `order` was drawn for */
    float *images[2];
    int32_t *labels[2];
    cl_event uploaded[2]; /* the pending upload from each buffer, or NULL */
    /* The job the worker runs: fill buffer job_buf with (job_epoch, job_batch). */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool job_pending, job_done, quit;
    int job_buf;
    int64_t job_epoch, job_batch, job_valid;
};

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t s = a ^ (b * 0x9e3779b97f4a7c15ULL);
    return nncl_splitmix64(&s);
}

/* Fisher-Yates from (seed, epoch); identity when not shuffling. */
static void draw_order(nncl_loader *l, int64_t epoch) {
    int64_t n = l->ds->count;
    for (int64_t i = 0; i < n; i++)
        l->order[i] = i;
    if (l->o.shuffle) {
        uint64_t rng = mix(l->o.seed, (uint64_t)epoch + 1);
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(nncl_splitmix64(&rng) % (uint64_t)(i + 1)), t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    }
    l->order_epoch = epoch;
}

/* The order positions [*first, *first + *valid) of global batch `batch`
 * that this shard takes: its run of `batch` in a full global batch, its
 * even part of a final partial one. */
static void shard_range(const nncl_loader *l, int64_t batch, int64_t *first, int64_t *valid) {
    int64_t shards = l->shards, global = l->o.batch * shards;
    int64_t full = l->ds->count / global, rest = l->ds->count % global;
    if (batch < full) {
        *first = batch * global + l->shard * l->o.batch;
        *valid = l->o.batch;
        return;
    }
    int64_t part = rest / shards, extra = rest % shards;
    *first = full * global + l->shard * part + (l->shard < extra ? l->shard : extra);
    *valid = part + (l->shard < extra);
}

/* The worker's job: prepare one batch; returns how many samples are real. */
static int64_t prepare(nncl_loader *l, int buf, int64_t epoch, int64_t batch) {
    if (batch >= l->batches) return 0;
    if (l->order_epoch != epoch) draw_order(l, epoch);
    if (l->uploaded[buf]) { /* the buffer's last upload must be done before refilling it */
        clWaitForEvents(1, &l->uploaded[buf]);
        clReleaseEvent(l->uploaded[buf]);
        l->uploaded[buf] = NULL;
    }
    int64_t n = l->ds->count, first, valid;
    shard_range(l, batch, &first, &valid);
    for (int64_t k = 0; k < l->o.batch; k++) {
        /* a short batch repeats the epoch's start */
        int64_t idx = l->order[k < valid ? first + k : (k - valid) % n];
        uint64_t rng = mix(mix(l->o.seed, (uint64_t)epoch), (uint64_t)idx);
        nncl_prepare_sample(l->ds, idx, &l->o, rng, l->images[buf] + k * l->image_size,
                            l->labels[buf] + k * l->label_size);
    }
    return valid;
}

static void *worker(void *arg) {
    nncl_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->job_pending && !l->quit)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->quit) break;
        l->job_pending = false;
        int buf = l->job_buf;
        int64_t epoch = l->job_epoch, batch = l->job_batch;
        pthread_mutex_unlock(&l->mu);
        int64_t valid = prepare(l, buf, epoch, batch);
        pthread_mutex_lock(&l->mu);
        l->job_valid = valid;
        l->job_done = true;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Hands the worker its next job; the caller holds no lock. */
static void start_job(nncl_loader *l, int buf, int64_t epoch, int64_t batch) {
    pthread_mutex_lock(&l->mu);
    l->job_buf = buf;
    l->job_epoch = epoch;
    l->job_batch = batch;
    l->job_done = false;
    l->job_pending = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void wait_job(nncl_loader *l) {
    pthread_mutex_lock(&l->mu);
    while (!l->job_done)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

nncl_status nncl_loader_create(const nncl_dataset *ds, const nncl_loader_options *options,
                               nncl_loader **out) {
    if (!ds || !options || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_loader_create: NULL argument");
    *out = NULL;
    const nncl_loader_options *o = options;
    int64_t shards = o->shards ? o->shards : 1, global = 0;
    if (shards < 0 || o->shard < 0 || o->shard >= shards || o->batch <= 0 ||
        !nncl_mul_i64(o->batch, shards, &global))
        return nncl_fail(
            NNCL_ERROR_INVALID_ARGUMENT,
            "nncl_loader_create: shard %d of %d shards with batch %lld: shards must be "
            ">= 0, shard in [0, shards) and batch > 0",
            (int)o->shard, (int)o->shards, (long long)o->batch);
    /* A final partial global batch needs a real sample for every shard. */
    int64_t rest = ds->count % global;
    int64_t batches = ds->count / global + (!o->drop_last && rest >= shards && rest > 0);
    if (batches == 0)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_loader_create: %lld samples make no batch of %lld (%lld a "
                         "shard, %lld shards)%s",
                         (long long)ds->count, (long long)global, (long long)o->batch,
                         (long long)shards,
                         o->drop_last ? " with drop_last" : ": a shard needs a sample");
    if (o->shift < 0 || !(o->rotate_degrees >= 0 && o->rotate_degrees <= 360) ||
        !(o->noise_std >= 0 && isfinite(o->noise_std)) || !(o->std >= 0 && isfinite(o->std)) ||
        !isfinite(o->mean))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_loader_create: shift must be >= 0, rotate_degrees in [0, 360], "
                         "noise_std and std finite and >= 0, mean finite (got shift %lld, "
                         "rotate_degrees %g, noise_std %g, std %g, mean %g)",
                         (long long)o->shift, (double)o->rotate_degrees, (double)o->noise_std,
                         (double)o->std, (double)o->mean);
    char shape[128];
    nncl_shape_str(nncl_dataset_image_shape(ds), shape, sizeof shape);
    int64_t longest = 1;
    for (int i = 0; i < 3; i++)
        longest = ds->dims[i] > longest ? ds->dims[i] : longest;
    if (o->shift > longest)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_loader_create: shift %lld is larger than the %s samples",
                         (long long)o->shift, shape);
    if (o->rotate_degrees > 0 && ds->label_maps)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_loader_create: rotate_degrees does not apply to datasets with label "
                         "maps (flips and shifts move the maps with the samples)");
    if (o->rotate_degrees > 0 && ds->spatial != 2)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_loader_create: rotate_degrees applies to 2D images; the samples "
                         "are %s (flips mirror the last dim and shifts move every spatial dim "
                         "at any rank)",
                         shape);
    if ((o->channel_mean == NULL) != (o->channel_std == NULL))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_loader_create: channel_mean and channel_std go together (one value "
                         "per channel each)");
    for (int64_t c = 0; o->channel_mean && c < ds->channels; c++)
        if (!isfinite(o->channel_mean[c]) ||
            !(o->channel_std[c] > 0 && isfinite(o->channel_std[c])))
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "nncl_loader_create: channel %lld has mean %g and std %g; means "
                             "must be finite and stds finite and > 0",
                             (long long)c, (double)o->channel_mean[c], (double)o->channel_std[c]);
    int64_t image_size = ds->sample_size, batch_floats = 0;
    size_t batch_bytes = 0;
    if (image_size <= 0 || !nncl_mul_i64(o->batch, image_size, &batch_floats) ||
        !nncl_bytes_of(batch_floats, sizeof(float), &batch_bytes))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_loader_create: a batch of %lld images of %lld values does not fit "
                         "in memory",
                         (long long)o->batch, (long long)image_size);
    nncl_loader *l = calloc(1, sizeof *l);
    if (!l) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_loader_create: out of memory");
    l->ds = ds;
    l->o = *o;
    l->image_size = image_size;
    l->label_size = ds->label_maps ? ds->dims[0] * ds->dims[1] * ds->dims[2] : 1;
    l->batches = batches;
    l->shard = o->shard;
    l->shards = shards;
    l->order = malloc((size_t)ds->count * sizeof *l->order);
    l->order_epoch = -1;
    bool ok = l->order != NULL;
    for (int b = 0; b < 2 && ok; b++) {
        l->images[b] = malloc(batch_bytes);
        l->labels[b] = malloc((size_t)(o->batch * l->label_size) * sizeof(int32_t));
        ok = l->images[b] && l->labels[b];
    }
    if (!ok || pthread_mutex_init(&l->mu, NULL) || pthread_cond_init(&l->cv, NULL)) {
        for (int b = 0; b < 2; b++) {
            free(l->images[b]);
            free(l->labels[b]);
        }
        free(l->order);
        free(l);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_loader_create: out of memory");
    }
    if (pthread_create(&l->thread, NULL, worker, l)) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        for (int b = 0; b < 2; b++) {
            free(l->images[b]);
            free(l->labels[b]);
        }
        free(l->order);
        free(l);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_loader_create: cannot start a thread");
    }
    start_job(l, 0, 0, 0);
    *out = l;
    return NNCL_OK;
}

void nncl_loader_destroy(nncl_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->quit = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    for (int b = 0; b < 2; b++) {
        if (l->uploaded[b]) {
            clWaitForEvents(1, &l->uploaded[b]);
            clReleaseEvent(l->uploaded[b]);
        }
        free(l->images[b]);
        free(l->labels[b]);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->order);
    free(l);
}

int64_t nncl_loader_batches(const nncl_loader *l) {
    return l ? l->batches : 0;
}

int64_t nncl_loader_epoch(const nncl_loader *l) {
    if (!l) return 0;
    nncl_loader *m = (nncl_loader *)l;
    wait_job(m);
    return m->job_epoch;
}

nncl_status nncl_loader_seek(nncl_loader *l, int64_t epoch, int64_t batch) {
    if (!l || epoch < 0 || batch < 0 || batch > l->batches)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_loader_seek: epoch %lld and batch %lld (of %lld) out of range",
                         (long long)epoch, (long long)batch, l ? (long long)l->batches : 0LL);
    wait_job(l);
    start_job(l, l->job_buf, epoch, batch);
    return NNCL_OK;
}

/* For an int32 input (token ids for an embedding): the prepared values of
 * buffer buf turned into int32 in place, each a whole number in range. */
static nncl_status to_ids(nncl_loader *l, int buf, const char *input) {
    float *v = l->images[buf];
    for (int64_t i = 0; i < l->o.batch * l->image_size; i++) {
        if (!(v[i] == floorf(v[i]) && fabsf(v[i]) < 16777216.0f))
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "nncl_loader_next: input '%s' takes int32 ids, but sample %lld of the "
                             "batch holds %g at position %lld (ids must be whole numbers below "
                             "2^24; leave normalisation and augmentation off for them)",
                             input, (long long)(i / l->image_size), (double)v[i],
                             (long long)(i % l->image_size));
        int32_t id = (int32_t)v[i];
        memcpy(&v[i], &id, sizeof id);
    }
    return NNCL_OK;
}

nncl_status nncl_loader_next(nncl_loader *l, nncl_graph *g, nncl_node *images, nncl_node *labels,
                             int64_t *valid) {
    if (!l || !g || !images || !labels || !valid)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_loader_next: NULL argument");
    nncl_shape sample = nncl_dataset_image_shape(l->ds), want = {.rank = sample.rank + 1};
    nncl_shape want_labels = {.rank = l->ds->label_maps ? sample.rank : 1};
    want.dims[0] = want_labels.dims[0] = l->o.batch;
    for (int32_t i = 0; i < sample.rank; i++)
        want.dims[1 + i] = sample.dims[i];
    for (int32_t i = 1; i < want_labels.rank; i++)
        want_labels.dims[i] = sample.dims[i];
    nncl_shape have = nncl_node_shape(images);
    if (!nncl_shape_equal(want, have) || !nncl_node_is_input(images) ||
        !nncl_node_is_input(labels) || !labels->is_labels ||
        !nncl_shape_equal(labels->shape, want_labels)) {
        char a[128], b[128], c[128];
        return nncl_fail(NNCL_ERROR_SHAPE,
                         "nncl_loader_next: the loader makes images %s and labels %s; input "
                         "'%s' is %s and '%s' must be labels of that shape",
                         nncl_shape_str(want, a, sizeof a),
                         nncl_shape_str(want_labels, c, sizeof c), images->name,
                         nncl_shape_str(have, b, sizeof b), labels->name);
    }
    wait_job(l);
    int buf = l->job_buf;
    int64_t epoch = l->job_epoch, batch = l->job_batch;
    *valid = l->job_valid;
    if (*valid == 0 && l->o.wrap_epochs) { /* go straight on with the next epoch */
        start_job(l, buf, epoch + 1, 0);
        wait_job(l);
        epoch = l->job_epoch;
        batch = l->job_batch;
        *valid = l->job_valid;
    }
    if (*valid == 0) { /* end of the epoch: the next call starts the next one */
        start_job(l, buf, epoch + 1, 0);
        return NNCL_OK;
    }
    cl_event done[2] = {NULL, NULL};
    nncl_status st = images->is_labels ? to_ids(l, buf, images->name) : NNCL_OK;
    if (st != NNCL_OK) { /* this batch again at the next call */
        start_job(l, buf, epoch, batch);
        return st;
    }
    st = nncl_graph_write_input(g, images, l->images[buf],
                                (size_t)(l->o.batch * l->image_size) * sizeof(float), &done[0]);
    if (st == NNCL_OK)
        st = nncl_graph_write_input(g, labels, l->labels[buf],
                                    (size_t)(l->o.batch * l->label_size) * sizeof(int32_t),
                                    &done[1]);
    if (st != NNCL_OK) { /* nothing queued from this buffer stays pending */
        clFinish(g->ctx->queue);
        for (int k = 0; k < 2; k++)
            if (done[k]) clReleaseEvent(done[k]);
        start_job(l, buf, epoch, batch);
        return st;
    }
    /* In-order queue: the labels upload completes after the images one. */
    clReleaseEvent(done[0]);
    l->uploaded[buf] = done[1];
    start_job(l, 1 - buf, epoch, batch + 1);
    return NNCL_OK;
}

/* The ranks of a data-parallel run: joining MPI, each rank's device, rank
 * 0's parameters copied to all, checkpoints written by rank 0, and every
 * collective waited for with a deadline, so that a stopped rank makes the
 * others fail instead of hang (MPI has no timeouts of its own). */
#define _POSIX_C_SOURCE 200809L
#include "dist.h"

#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double nncl_dist_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Writes the message to error (a thread's own buffer) or records it as
 * this thread's last error; marks d broken. */
static nncl_status comm_fail(nncl_dist *d, char *error, size_t size, const char *fmt, ...)
    NNCL_PRINTF(4, 5);
static nncl_status comm_fail(nncl_dist *d, char *error, size_t size, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->broken = true;
    if (error) {
        snprintf(error, size, "%s", msg);
        return NNCL_ERROR_COMMUNICATION;
    }
    return nncl_fail(NNCL_ERROR_COMMUNICATION, "%s", msg);
}

static const char *mpi_message(int rc, char *buf) {
    int len = 0;
    if (MPI_Error_string(rc, buf, &len) != MPI_SUCCESS) snprintf(buf, 64, "MPI error %d", rc);
    return buf;
}

/* Polls req until it completes or the deadline passes. MPI progresses
 * only inside its calls: a large message is many exchanges, each waiting
 * for both sides to test. While backward still computes, the reduction
 * thread tests every 50 us and leaves the cores to the device; once
 * nothing else is left to do (`draining`, and the calling thread's
 * collectives) it only yields between tests for the first 50 ms (sleeps
 * of 10 us and more made a 1.6 MB allreduce take 33 ms instead of 5),
 * then sleeps up to 1 ms, not to spin on a stopped rank. */
static nncl_status wait_request(nncl_dist *d, MPI_Request *req, bool background, const char *what,
                                char *error, size_t size) {
    double start = nncl_dist_now(), deadline = start + d->o.timeout_s;
    long pause_ns = 10000;
    char buf[MPI_MAX_ERROR_STRING];
    for (;;) {
        int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return comm_fail(d, error, size, "rank %d: %s failed: %s", d->rank, what,
                             mpi_message(rc, buf));
        if (done) return NNCL_OK;
        double now = nncl_dist_now();
        if (now > deadline)
            return comm_fail(d, error, size,
                             "rank %d: %s did not complete within %g s: another rank has stopped "
                             "or is stuck; end the job (MPI_Abort)",
                             d->rank, what, d->o.timeout_s);
        bool urgent = !background || d->draining;
        if (urgent && now - start < 0.05) {
            sched_yield();
            continue;
        }
        struct timespec pause = {0, urgent ? pause_ns : 50000};
        nanosleep(&pause, NULL);
        if (urgent && pause_ns < 1000000) pause_ns *= 2;
    }
}

nncl_status nncl_dist_allreduce(nncl_dist *d, MPI_Comm comm, void *values, size_t n,
                                MPI_Datatype type, MPI_Op op, const char *what, char *error,
                                size_t error_size) {
    if (d->broken)
        return comm_fail(d, error, error_size,
                         "rank %d: %s: an earlier collective failed, so the ranks are out of step",
                         d->rank, what);
    if (n > INT_MAX)
        return comm_fail(d, error, error_size, "rank %d: %s: %zu values in one message", d->rank,
                         what, n);
    MPI_Request req;
    char buf[MPI_MAX_ERROR_STRING];
    int rc = MPI_Iallreduce(MPI_IN_PLACE, values, (int)n, type, op, comm, &req);
    if (rc != MPI_SUCCESS)
        return comm_fail(d, error, error_size, "rank %d: %s failed: %s", d->rank, what,
                         mpi_message(rc, buf));
    return wait_request(d, &req, error != NULL, what, error, error_size);
}

nncl_status nncl_dist_bcast(nncl_dist *d, void *values, size_t n, MPI_Datatype type,
                            const char *what) {
    if (d->broken)
        return comm_fail(d, NULL, 0, "rank %d: %s: an earlier collective failed", d->rank, what);
    if (n > INT_MAX)
        return comm_fail(d, NULL, 0, "rank %d: %s: %zu values in one message", d->rank, what, n);
    MPI_Request req;
    char buf[MPI_MAX_ERROR_STRING];
    int rc = MPI_Ibcast(values, (int)n, type, 0, d->comm, &req);
    if (rc != MPI_SUCCESS)
        return comm_fail(d, NULL, 0, "rank %d: %s failed: %s", d->rank, what, mpi_message(rc, buf));
    return wait_request(d, &req, false, what, NULL, 0);
}

/* Duplicates base twice and finds the ranks; MPI errors come back as codes. */
static nncl_status join(nncl_dist *d, MPI_Comm base) {
    char buf[MPI_MAX_ERROR_STRING];
    MPI_Comm node;
    int rc = MPI_Comm_dup(base, &d->comm);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_dup(base, &d->grad_comm);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(d->grad_comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(d->comm, &d->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(d->comm, &d->size);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
    if (rc == MPI_SUCCESS) {
        rc = MPI_Comm_rank(node, &d->local_rank);
        MPI_Comm_free(&node);
    }
    if (rc != MPI_SUCCESS)
        return nncl_fail(NNCL_ERROR_COMMUNICATION, "nncl_dist_create: %s", mpi_message(rc, buf));
    return NNCL_OK;
}

nncl_status nncl_dist_create(const nncl_dist_options *options, nncl_dist **out) {
    if (!out) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dist_create: out is NULL");
    *out = NULL;
    nncl_dist_options o = options ? *options : (nncl_dist_options){0};
    if (!(o.bucket_mb >= 0 && o.bucket_mb <= 1024) || !(o.timeout_s >= 0 && isfinite(o.timeout_s)))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_dist_create: bucket_mb %g must be in [0, 1024] and timeout_s %g "
                         "finite and >= 0 (0: the defaults, 2 and 300)",
                         o.bucket_mb, o.timeout_s);
    if (o.bucket_mb == 0) o.bucket_mb = 2;
    if (o.timeout_s == 0) o.timeout_s = 300;
    int initialized = 0, finalized = 0, level = MPI_THREAD_SINGLE;
    MPI_Finalized(&finalized);
    if (finalized)
        return nncl_fail(NNCL_ERROR_STATE, "nncl_dist_create: MPI has been finalised already");
    MPI_Initialized(&initialized);
    if (!initialized && MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &level) != MPI_SUCCESS)
        return nncl_fail(NNCL_ERROR_COMMUNICATION, "nncl_dist_create: MPI_Init_thread failed");
    MPI_Query_thread(&level);
    nncl_dist *d = calloc(1, sizeof *d);
    if (!d) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_dist_create: out of memory");
    d->o = o;
    d->finalize = !initialized;
    d->overlap = level == MPI_THREAD_MULTIPLE && !o.no_overlap;
    d->comm = d->grad_comm = MPI_COMM_NULL;
    nncl_status st = join(d, o.comm ? *(const MPI_Comm *)o.comm : MPI_COMM_WORLD);
    if (st != NNCL_OK) {
        nncl_dist_destroy(d);
        return st;
    }
    *out = d;
    return NNCL_OK;
}

static void detach(nncl_dist *d) {
    if (!d->g) return;
    nncl_dist_grads_stop(d);
    d->g->collective = NULL;
    nncl_dependents_remove(&d->g->users, d);
    d->g = NULL;
}

/* The graph is being destroyed first. */
static void dist_orphan(void *obj) {
    nncl_dist *d = obj;
    nncl_dist_grads_stop(d);
    d->g = NULL;
}

void nncl_dist_destroy(nncl_dist *d) {
    if (!d) return;
    detach(d);
    /* Freeing a communicator and finalising synchronise with the other
     * ranks: after a failed collective they would wait for the stopped one. */
    if (!d->broken) {
        if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
        if (d->grad_comm != MPI_COMM_NULL) MPI_Comm_free(&d->grad_comm);
        if (d->finalize) MPI_Finalize();
    }
    if (d->locks_ready) {
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
    }
    free(d);
}

int32_t nncl_dist_rank(const nncl_dist *d) {
    return d ? d->rank : 0;
}

int32_t nncl_dist_size(const nncl_dist *d) {
    return d ? d->size : 1;
}

int32_t nncl_dist_local_rank(const nncl_dist *d) {
    return d ? d->local_rank : 0;
}

nncl_status nncl_dist_device(const nncl_dist *d, char *spec, size_t size) {
    if (!d || !spec || size == 0)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dist_device: NULL argument");
    const char *env = getenv("NNCL_DEVICE");
    char pick[256] = "";
    if (env && *env) {
        int entries = 1;
        for (const char *p = env; *p; p++)
            entries += *p == ',';
        const char *at = env;
        for (int k = d->local_rank % entries; k > 0; k--)
            at = strchr(at, ',') + 1;
        size_t len = strcspn(at, ",");
        snprintf(pick, sizeof pick, "%.*s", (int)(len < 255 ? len : 255), at);
    } else {
        nncl_device_info info[64];
        size_t count = 0, gpus = 0;
        if (nncl_devices(info, 64, &count) == NNCL_OK) {
            for (size_t i = 0; i < count && i < 64; i++)
                gpus += info[i].type == NNCL_DEVICE_GPU;
            for (size_t i = 0, seen = 0; gpus && i < count && i < 64; i++)
                if (info[i].type == NNCL_DEVICE_GPU && seen++ == (size_t)d->local_rank % gpus)
                    snprintf(pick, sizeof pick, "%d:%d", (int)info[i].platform_index,
                             (int)info[i].device_index);
        }
    }
    if (strlen(pick) >= size)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_dist_device: device spec '%s' needs %zu bytes, got %zu", pick,
                         strlen(pick) + 1, size);
    memcpy(spec, pick, strlen(pick) + 1);
    return NNCL_OK;
}

/* "name [shape]" of every parameter and buffer, one per line (the caller frees). */
static char *describe_params(const nncl_graph *g) {
    size_t cap = 256, len = 0;
    char *text = malloc(cap);
    for (size_t i = 0; text && i < g->n_params; i++) {
        char line[512], shape[128];
        int n = snprintf(line, sizeof line, "%s %s\n", g->params[i].name,
                         nncl_shape_str(g->params[i].shape, shape, sizeof shape));
        size_t add = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
        if (len + add + 1 > cap) {
            cap = 2 * (len + add + 1);
            char *grown = realloc(text, cap);
            if (!grown) free(text);
            text = grown;
            if (!text) break;
        }
        memcpy(text + len, line, add);
        len += add;
    }
    if (text) text[len] = '\0';
    return text;
}

/* Rank 0's parameter list against this rank's: NNCL_OK on every rank, or
 * an error on every rank naming the first rank and parameter that differ. */
static nncl_status check_params(nncl_dist *d) {
    char *mine = describe_params(d->g), *ours = NULL;
    if (!mine) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_dist_attach: out of memory");
    long long len = (long long)strlen(mine);
    nncl_status st = nncl_dist_bcast(d, &len, 1, MPI_LONG_LONG, "nncl_dist_attach");
    if (st == NNCL_OK) {
        ours = d->rank == 0 ? mine : malloc((size_t)len + 1);
        if (!ours) return free(mine), nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_dist_attach");
        st = nncl_dist_bcast(d, ours, (size_t)len + 1, MPI_CHAR, "nncl_dist_attach");
    }
    char first[512] = "";
    if (st == NNCL_OK && strcmp(mine, ours) != 0) {
        size_t at = 0;
        while (mine[at] && mine[at] == ours[at])
            at++;
        while (at > 0 && mine[at - 1] != '\n')
            at--;
        snprintf(first, sizeof first, "%.*s", (int)strcspn(mine + at, "\n"), mine + at);
        if (!*first) snprintf(first, sizeof first, "(none: rank 0 has more)");
    }
    if (ours != mine) free(ours);
    free(mine);
    int differs = *first ? d->rank : INT_MAX;
    if (st == NNCL_OK)
        st = nncl_dist_allreduce(d, d->comm, &differs, 1, MPI_INT, MPI_MIN, "nncl_dist_attach",
                                 NULL, 0);
    if (st != NNCL_OK || differs == INT_MAX) return st;
    if (differs == d->rank)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_dist_attach: rank %d's parameters differ from rank 0's, first at "
                         "'%s' (every rank builds the same graph)",
                         d->rank, first);
    return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                     "nncl_dist_attach: rank %d's parameters differ from rank 0's (every rank "
                     "builds the same graph)",
                     differs);
}

/* Rank 0's values of every parameter and buffer on every rank: packs
 * whole, the rest one by one. */
static nncl_status copy_rank0_params(nncl_dist *d) {
    nncl_graph *g = d->g;
    nncl_status st = NNCL_OK;
    for (size_t i = 0; i < g->n_packs + g->n_params && st == NNCL_OK; i++) {
        cl_mem mem;
        size_t floats;
        if (i < g->n_packs) {
            mem = g->packs[i].value;
            floats = g->packs[i].floats;
        } else {
            const nncl_param_entry *p = &g->params[i - g->n_packs];
            if (p->pack >= 0) continue;
            mem = p->value;
            floats = (size_t)p->numel;
        }
        float *host = malloc(floats * sizeof *host);
        if (!host) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_dist_attach: out of memory");
        if (d->rank == 0) st = nncl_buffer_read(g->ctx, mem, 0, host, floats * sizeof *host);
        if (st == NNCL_OK) st = nncl_dist_bcast(d, host, floats, MPI_FLOAT, "nncl_dist_attach");
        if (st == NNCL_OK && d->rank != 0)
            st = nncl_buffer_write(g->ctx, mem, 0, host, floats * sizeof *host);
        free(host);
    }
    g->param_version++;
    return st;
}

nncl_status nncl_dist_attach(nncl_dist *d, nncl_graph *g) {
    nncl_status st = nncl_graph_check(g, "nncl_dist_attach");
    if (st != NNCL_OK) return st;
    if (!d) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dist_attach: dist is NULL");
    if (d->g || g->collective)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dist_attach: %s",
                         d->g ? "a dist trains one graph; this one has its graph"
                              : "the graph is attached to another dist");
    if ((st = nncl_graph_plan(g)) != NNCL_OK) return st;
    d->g = g;
    st = check_params(d);
    if (st == NNCL_OK) st = copy_rank0_params(d);
    if (st == NNCL_OK && !nncl_dependents_add(&g->users, d, dist_orphan))
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_dist_attach: out of memory");
    if (st == NNCL_OK) st = nncl_dist_grads_start(d);
    if (st != NNCL_OK) {
        nncl_dependents_remove(&g->users, d);
        d->g = NULL;
    }
    return st;
}

nncl_status nncl_dist_sum(nncl_dist *d, double *values, size_t n) {
    if (!d || (!values && n))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dist_sum: NULL argument");
    return nncl_dist_allreduce(d, d->comm, values, n, MPI_DOUBLE, MPI_SUM, "nncl_dist_sum", NULL,
                               0);
}

nncl_status nncl_dist_save(nncl_dist *d, nncl_graph *g, const nncl_optimizer *opt, const char *path,
                           const nncl_metadata *metadata, size_t n_metadata) {
    if (!d) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dist_save: dist is NULL");
    int status = NNCL_OK;
    char message[1024] = "";
    if (d->rank == 0) {
        status = (int)nncl_save(g, opt, path, metadata, n_metadata);
        if (status != NNCL_OK) snprintf(message, sizeof message, "%s", nncl_last_error());
    }
    nncl_status st = nncl_dist_bcast(d, &status, 1, MPI_INT, "nncl_dist_save");
    if (st == NNCL_OK) st = nncl_dist_bcast(d, message, sizeof message, MPI_CHAR, "nncl_dist_save");
    if (st != NNCL_OK) return st;
    return status == NNCL_OK ? NNCL_OK : nncl_fail((nncl_status)status, "%s", message);
}

nncl_status nncl_dist_stats_get(const nncl_dist *d, nncl_dist_stats *out) {
    if (!d || !out) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dist_stats_get: NULL");
    *out = d->stats;
    return NNCL_OK;
}

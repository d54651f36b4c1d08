/* Data-parallel training over MPI, the top layer beside train/: the ranks,
 * their communicators and collectives with a deadline (dist.c), and the
 * gradient buckets reduced on a thread while backward runs (buckets.c).
 * Only this folder includes mpi.h; the graph reaches it through the
 * nncl_collective table it installs. */
#ifndef NNCL_DIST_H
#define NNCL_DIST_H

#include "../graph/graph.h"

#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>

/* A stretch of one gradient buffer, reduced as one message once every
 * node owning a parameter in it has run its backward. */
typedef struct nncl_bucket {
    cl_mem grad;
    size_t offset, floats;
    int32_t ready_at; /* the lowest index of a node owning one of its parameters */
    float *host;
    cl_event read, write;
} nncl_bucket;

struct nncl_dist {
    nncl_dist_options o;
    MPI_Comm comm;      /* the calling thread's collectives */
    MPI_Comm grad_comm; /* the reduction thread's, so the two never interleave */
    int rank, size, local_rank;
    bool finalize;         /* nncl_dist_create called MPI_Init */
    bool overlap;          /* a reduction thread (MPI_THREAD_MULTIPLE) */
    _Atomic bool broken;   /* a collective failed: ranks are out of step */
    _Atomic bool draining; /* backward is queued: the thread may spin */
    nncl_graph *g;
    nncl_collective hooks;
    /* Buckets in the order backward finishes them, for the layout of
     * n_packs packs they were cut from. */
    nncl_bucket *buckets;
    size_t n_buckets, layout_packs;
    size_t handed; /* buckets of this pass given to the thread */
    bool in_pass;  /* between the hooks' begin and end */
    /* The reduction thread: reduces buckets [reduced, handed). */
    pthread_t thread;
    bool thread_started, quit, locks_ready;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t reduced;
    double backward_done_at; /* when this pass's last gradient reached the host */
    bool callback_pending;   /* that copy's completion callback has yet to run */
    nncl_status thread_status;
    char thread_error[512];
    nncl_dist_stats stats;
};

/* Seconds on a monotonic clock. */
double nncl_dist_now(void);
/* MPI_Iallreduce in place, waited for with the deadline. On
 * failure writes the message to `error` (the reduction thread's, which
 * also polls gently while backward computes) or records it (error NULL),
 * marks d broken, and returns NNCL_ERROR_COMMUNICATION. */
nncl_status nncl_dist_allreduce(nncl_dist *d, MPI_Comm comm, void *values, size_t n,
                                MPI_Datatype type, MPI_Op op, const char *what, char *error,
                                size_t error_size);
/* MPI_Ibcast from rank 0, waited for with the deadline. */
nncl_status nncl_dist_bcast(nncl_dist *d, void *values, size_t n, MPI_Datatype type,
                            const char *what);

/* buckets.c: the hooks' table for d->g, the thread, and their end. */
nncl_status nncl_dist_grads_start(nncl_dist *d);
void nncl_dist_grads_stop(nncl_dist *d);

#endif

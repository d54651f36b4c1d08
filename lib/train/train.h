/* The optimizer's private structure, shared by the files that update,
 * schedule and checkpoint it. */
#ifndef NNCL_TRAIN_H
#define NNCL_TRAIN_H

#include "../graph/graph.h"

#define NNCL_OPTIM_STATES 3

typedef struct nncl_optim_entry {
    size_t param; /* index into the graph's parameters */
    cl_mem
        state[NNCL_OPTIM_STATES]; /* its part of the run's state; NULL where the kind keeps less */
} nncl_optim_entry;

/* Parameters whose values and gradients lie side by side in one pack, with
 * their state laid out the same way: one update launch covers them all.
 * The optimizer's runs own their state; its active runs are views of the
 * learning (unfrozen) stretches of them, which the update covers. */
typedef struct nncl_optim_run {
    cl_mem value, grad; /* sub-buffers spanning the run */
    cl_mem state[NNCL_OPTIM_STATES];
    size_t floats;
    size_t first_entry, end_entry; /* the entries it spans */
} nncl_optim_run;

struct nncl_optimizer {
    nncl_graph *g;
    nncl_optim_params p; /* with defaults filled in */
    float base_lr;
    int64_t steps;
    nncl_schedule schedule;
    int64_t schedule_pos;
    int n_states;
    nncl_optim_entry *entries;
    size_t n_entries;
    nncl_optim_run *runs; /* over every trainable parameter */
    size_t n_runs;
    nncl_optim_run *active; /* what the update covers (active.c) */
    size_t n_active;
    uint64_t freeze_version;    /* the graph's when active was made */
    nncl_launch_sites launches; /* of the update */
    cl_mem scale;               /* [1]: gradient scale from clipping (1 otherwise) */
    cl_mem squares;             /* per run: squared gradient norm, when clipping */
};

/* "SGD", "Adam", ...; "unknown" outside the enum (optim.c). */
const char *nncl_optim_kind_name(nncl_optim_kind kind);

/* Makes the active runs match the graph's frozen parameters, when they
 * changed since the last call (active.c). */
nncl_status nncl_optim_active_refresh(nncl_optimizer *opt);
void nncl_optim_active_release(nncl_optimizer *opt);

/* NNCL_OK, or an error for `call` when opt is NULL or its graph is gone or
 * unusable (optim.c). */
nncl_status nncl_optimizer_check(const nncl_optimizer *opt, const char *call);

#endif

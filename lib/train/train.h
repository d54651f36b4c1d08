/* The optimizer's private structure, shared by the files that update,
 * schedule and checkpoint it. */
#ifndef NNCL_TRAIN_H
#define NNCL_TRAIN_H

#include "../nncl_internal.h"

#define NNCL_OPTIM_STATES 3

typedef struct nncl_optim_entry {
    size_t param;                    /* index into the graph's parameters */
    cl_mem state[NNCL_OPTIM_STATES]; /* NULL where the kind keeps less */
} nncl_optim_entry;

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
    cl_mem scale;   /* [1]: gradient scale from clipping (1 otherwise) */
    cl_mem squares; /* per entry: squared gradient norm, when clipping */
};

#endif

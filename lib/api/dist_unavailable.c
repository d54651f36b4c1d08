/* The data-parallel calls in a library built without MPI (NNCL_MPI off, or
 * MPI not found): they exist and say why they cannot work, so programs
 * link the same either way. */
#include "../runtime/runtime.h"

static nncl_status unavailable(const char *call) {
    return nncl_fail(NNCL_ERROR_STATE,
                     "%s: this nncl was built without MPI, so it trains in one process only "
                     "(install libopenmpi-dev and rebuild with -DNNCL_MPI=ON)",
                     call);
}

nncl_status nncl_dist_create(const nncl_dist_options *options, nncl_dist **out) {
    (void)options;
    if (out) *out = NULL;
    return unavailable("nncl_dist_create");
}

/* No dist is ever created, so the calls below only see NULL. */
void nncl_dist_destroy(nncl_dist *d) {
    (void)d;
}

int32_t nncl_dist_rank(const nncl_dist *d) {
    (void)d;
    return 0;
}

int32_t nncl_dist_size(const nncl_dist *d) {
    (void)d;
    return 1;
}

int32_t nncl_dist_local_rank(const nncl_dist *d) {
    (void)d;
    return 0;
}

nncl_status nncl_dist_device(const nncl_dist *d, char *spec, size_t size) {
    (void)d, (void)spec, (void)size;
    return unavailable("nncl_dist_device");
}

nncl_status nncl_dist_attach(nncl_dist *d, nncl_graph *g) {
    (void)d, (void)g;
    return unavailable("nncl_dist_attach");
}

nncl_status nncl_dist_sum(nncl_dist *d, double *values, size_t n) {
    (void)d, (void)values, (void)n;
    return unavailable("nncl_dist_sum");
}

nncl_status nncl_dist_save(nncl_dist *d, nncl_graph *g, const nncl_optimizer *opt, const char *path,
                           const nncl_metadata *metadata, size_t n_metadata) {
    (void)d, (void)g, (void)opt, (void)path, (void)metadata, (void)n_metadata;
    return unavailable("nncl_dist_save");
}

nncl_status nncl_dist_stats_get(const nncl_dist *d, nncl_dist_stats *out) {
    (void)d, (void)out;
    return unavailable("nncl_dist_stats_get");
}

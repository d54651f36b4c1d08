/* Device-time accounting by kind of work. With profiling on, every kernel
 * launch and GEMM records an event under the context's current phase; the
 * totals are read from the events' start and end times when asked for, or
 * when many events are pending (which waits for the queue: profiling runs
 * are for measuring, not for speed). Memory counters live in buffer.c. */
#include "runtime.h"

#include <stdlib.h>

static const char *const phase_names[NNCL_PROFILE_KINDS] = {
#define NNCL_PROFILE_KIND_NAME_(kind, name) name,
    NNCL_PROFILE_KIND_LIST(NNCL_PROFILE_KIND_NAME_)
#undef NNCL_PROFILE_KIND_NAME_
};

#define MAX_PENDING 8192

/* Adds the finished pending events to the totals and releases them. */
static void settle(nncl_context *ctx) {
    clFinish(ctx->queue);
    for (size_t i = 0; i < ctx->n_events; i++) {
        cl_ulong start = 0, end = 0;
        clGetEventProfilingInfo(ctx->events[i], CL_PROFILING_COMMAND_START, sizeof start, &start,
                                NULL);
        clGetEventProfilingInfo(ctx->events[i], CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
        clReleaseEvent(ctx->events[i]);
        ctx->phase_seconds[ctx->event_phase[i]] += end > start ? (double)(end - start) * 1e-9 : 0;
        ctx->phase_launches[ctx->event_phase[i]]++;
    }
    ctx->n_events = 0;
}

cl_event *nncl_profile_event(nncl_context *ctx) {
    if (!ctx->profile) return NULL;
    if (ctx->n_events == ctx->events_cap) {
        if (ctx->events_cap >= MAX_PENDING) {
            settle(ctx);
        } else {
            size_t cap = ctx->events_cap ? ctx->events_cap * 2 : 256;
            cl_event *e = realloc(ctx->events, cap * sizeof *e);
            if (e) ctx->events = e;
            nncl_profile_kind *p = realloc(ctx->event_phase, cap * sizeof *p);
            if (p) ctx->event_phase = p;
            if (!e || !p) return NULL; /* unmeasured rather than failed */
            ctx->events_cap = cap;
        }
    }
    ctx->event_phase[ctx->n_events] = ctx->phase;
    ctx->events[ctx->n_events] = NULL;
    return &ctx->events[ctx->n_events++];
}

nncl_status nncl_context_profile(nncl_context *ctx, nncl_profile_entry *out, size_t capacity,
                                 size_t *count, bool reset) {
    if (!ctx || !count)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_context_profile: NULL argument");
    if (!ctx->profile)
        return nncl_fail(NNCL_ERROR_STATE,
                         "nncl_context_profile: create the context with options.profile set");
    settle(ctx);
    *count = NNCL_PROFILE_KINDS;
    for (size_t i = 0; i < NNCL_PROFILE_KINDS && i < capacity && out; i++)
        out[i] =
            (nncl_profile_entry){phase_names[i], ctx->phase_seconds[i], ctx->phase_launches[i]};
    if (reset)
        for (size_t i = 0; i < NNCL_PROFILE_KINDS; i++) {
            ctx->phase_seconds[i] = 0;
            ctx->phase_launches[i] = 0;
        }
    return NNCL_OK;
}

void nncl_profile_release(nncl_context *ctx) {
    for (size_t i = 0; i < ctx->n_events; i++)
        clReleaseEvent(ctx->events[i]);
    free(ctx->events);
    free(ctx->event_phase);
}

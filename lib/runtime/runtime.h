/* The runtime layer, the bottom of the library: errors, the context (one
 * device, its OpenCL context and queue), the kernel program, launches,
 * device buffers, profiling and host random numbers. It knows no graph,
 * op or GEMM; the layers above reach the device only through it. */
#ifndef NNCL_RUNTIME_H
#define NNCL_RUNTIME_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "nncl.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define NNCL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define NNCL_PRINTF(fmt, args)
#endif

/* ---- errors and shapes (status.c) */

/* Records the message for nncl_last_error and returns status. */
nncl_status nncl_fail(nncl_status status, const char *fmt, ...) NNCL_PRINTF(2, 3);
nncl_status nncl_fail_v(nncl_status status, const char *fmt, va_list ap);
/* "CL_OUT_OF_RESOURCES" for -5; "CL_UNKNOWN_ERROR" otherwise. */
const char *nncl_cl_error_name(cl_int err);
/* nncl_fail(NNCL_ERROR_OPENCL, "<what>: <CL error name> (<code>)"). */
nncl_status nncl_fail_cl(cl_int err, const char *what);
/* Formats a shape as "[2, 3, 4]" into buf. */
const char *nncl_shape_str(nncl_shape shape, char *buf, size_t size);
/* Product of dims [from, rank). */
int64_t nncl_shape_inner(nncl_shape s, int32_t from);
/* Same rank and dims (memcmp would also compare the padding after rank). */
bool nncl_shape_equal(nncl_shape a, nncl_shape b);

/* ---- dependents (dependents.c) */

/* Objects that use an owner's device resources and must release them when
 * the owner is destroyed before them (then `orphan` runs; the object's own
 * destroy later frees only host memory). */
typedef struct nncl_dependents {
    struct nncl_dependent {
        void *obj;
        void (*orphan)(void *obj);
    } * items;
    size_t n, cap;
} nncl_dependents;
/* false when out of memory. */
bool nncl_dependents_add(nncl_dependents *d, void *obj, void (*orphan)(void *obj));
void nncl_dependents_remove(nncl_dependents *d, const void *obj);
/* Calls every orphan callback and empties the list. */
void nncl_dependents_orphan_all(nncl_dependents *d);

/* ---- the context (device.c; created by api/context.c) */

typedef struct nncl_program nncl_program;
struct nncl_gemm_state;

struct nncl_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    nncl_device_info info;
    char cache_dir[1024];         /* "" when the cache is off */
    size_t local_size;            /* work-group size for elementwise kernels */
    size_t reduce_size;           /* work-group size of per-channel reductions */
    unsigned vector_width;        /* floats per vector: the device's, or forced */
    char build_options[2048];     /* what every kernel is built with, -D constants included */
    uint64_t kernels_fingerprint; /* nncl_kernels_fingerprint(build_options) */
    size_t base_align;            /* bytes a sub-buffer's origin must be a multiple of */
    cl_mem partials;              /* scratch of nncl_sum */
    uint64_t mem_current, mem_peak;
    /* Buffers released so far: a new buffer may get a released one's
     * handle, so launch sites set every argument again after a release. */
    uint64_t buffers_released;
    struct nncl_gemm_state *gemm; /* the GEMM layer's own state (gemm/gemm.h) */
    int conv_algorithm;           /* forced convolution algorithm (ops/conv.h), -1: timed */
    bool check_numerics;          /* stop at the first non-finite value an op writes */
    bool deterministic;           /* no choice depends on timing */
    /* Profiling: the kind of work being queued, and events not yet read. */
    bool profile;
    nncl_profile_kind phase;
    cl_event *events;
    nncl_profile_kind *event_phase;
    size_t n_events, events_cap;
    double phase_seconds[NNCL_PROFILE_KINDS];
    int64_t phase_launches[NNCL_PROFILE_KINDS];
    nncl_program *program; /* built on first use */
    /* The launch sites kernels are launched from now, NULL outside a plan. */
    struct nncl_launch_sites *site;
    size_t site_pos;
    nncl_dependents graphs; /* graphs made in this context */
};

/* NNCL_VEC, the width of the kernels that stream contiguous values (the
 * context's vector width, at most 8). */
static inline unsigned nncl_stream_width(const nncl_context *ctx) {
    return ctx->vector_width < 8 ? ctx->vector_width : 8;
}

/* Finds the device a spec names (NULL spec: the default rule). */
nncl_status nncl_device_select(const char *spec, cl_platform_id *platform, cl_device_id *device,
                               nncl_device_info *info);
void nncl_device_describe(cl_platform_id platform, cl_device_id device, nncl_device_info *info);

/* ---- profiling (profile.c) */

/* The event pointer a launch should pass: NULL unless profiling, when it
 * records the event under the context's current phase. */
cl_event *nncl_profile_event(nncl_context *ctx);
void nncl_profile_release(nncl_context *ctx);

/* ---- kernel programs (program.c, kernels generated from cl/) */

/* The cl/ sources in file-name order, as clCreateProgramWithSource takes them. */
extern const char *const nncl_kernel_texts[];
extern const size_t nncl_kernel_lengths[];
extern const cl_uint nncl_kernel_source_count;

/* The kernel `name` from the context's program, which is built on first use
 * (from the disk cache when possible). The kernel object is owned by the
 * context. */
nncl_status nncl_kernel_get(nncl_context *ctx, const char *name, cl_kernel *out);
nncl_status nncl_program_build(nncl_context *ctx);
/* A hash of the kernel sources and these build options, kept in the
 * context: what was built or timed for it is stale when it changes. */
uint64_t nncl_kernels_fingerprint(const char *build_options);
void nncl_program_release(nncl_context *ctx);

/* ---- launching (launch.c) */

typedef struct nncl_arg {
    size_t size;
    const void *value;
} nncl_arg;
#define NNCL_ARG(v) ((nncl_arg){sizeof(v), &(v)})
#define NNCL_ARGS(...)                                                                             \
    (const nncl_arg[]){__VA_ARGS__}, sizeof((nncl_arg[]){__VA_ARGS__}) / sizeof(nncl_arg)

/* One work-item per element, items rounded up to the context's work-group
 * size (kernels check their index against the real count). */
nncl_status nncl_launch(nncl_context *ctx, const char *kernel, size_t items, const nncl_arg *args,
                        size_t n_args);
/* `groups` work-groups of `local` items, for reductions that use local memory. */
nncl_status nncl_launch_groups(nncl_context *ctx, const char *kernel, size_t groups, size_t local,
                               const nncl_arg *args, size_t n_args);

/* The launches of one node's forward or backward pass (or an optimizer's
 * update), in order: each with its own kernel object and the argument
 * bytes it was last launched with, so repeated steps set only what changed. */
typedef struct nncl_launch_record {
    const char *name; /* a kernel name literal */
    cl_kernel kernel;
    unsigned char *values; /* the arguments' bytes, back to back */
    size_t bytes;
    bool complete;       /* every argument in values is set on kernel */
    uint64_t generation; /* the context's buffers_released when values were set */
} nncl_launch_record;

typedef struct nncl_launch_sites {
    nncl_launch_record *records;
    size_t n, cap;
} nncl_launch_sites;

/* Launches between enter and leave go to site's records in turn, and are
 * profiled as `kind`. */
void nncl_launch_sites_enter(nncl_context *ctx, nncl_launch_sites *site, nncl_profile_kind kind);
void nncl_launch_sites_leave(nncl_context *ctx);
void nncl_launch_sites_release(nncl_launch_sites *site);

/* out[out_index] = scale * sum of x[0..n) (of x^2 with square), reduced
 * in a fixed order on the device (reduce.c). */
nncl_status nncl_sum(nncl_context *ctx, cl_mem x, size_t n, bool square, float scale, cl_mem out,
                     size_t out_index);

/* ---- device memory (buffer.c) */

/* A zero-filled device buffer of `bytes` (at least 4). */
nncl_status nncl_buffer_create(nncl_context *ctx, size_t bytes, cl_mem *out);
void nncl_buffer_release(nncl_context *ctx, cl_mem mem);
nncl_status nncl_buffer_write(nncl_context *ctx, cl_mem mem, size_t offset, const void *src,
                              size_t bytes);
nncl_status nncl_buffer_read(nncl_context *ctx, cl_mem mem, size_t offset, void *dst, size_t bytes);
/* Queued copies: *done completes when the copy has, and the host memory
 * must stay valid until then. Safe from a second thread (OpenCL queues
 * take commands from any thread). */
nncl_status nncl_buffer_read_async(nncl_context *ctx, cl_mem mem, size_t offset, void *dst,
                                   size_t bytes, cl_event *done);
nncl_status nncl_buffer_write_async(nncl_context *ctx, cl_mem mem, size_t offset, const void *src,
                                    size_t bytes, cl_event *done);
nncl_status nncl_buffer_fill(nncl_context *ctx, cl_mem mem, float value, size_t count);
/* A sub-buffer of `count` floats from float `first` of parent. */
nncl_status nncl_sub_buffer(cl_mem parent, size_t first, size_t count, cl_mem *out);

/* ---- host random numbers (rng.c) */

uint64_t nncl_splitmix64(uint64_t *state);
/* A standard normal sample (Marsaglia's polar method over splitmix64). */
double nncl_normal(uint64_t *state);
/* n samples of N(0, std^2) (the ziggurat method), and of U(-bound, bound). */
void nncl_normal_fill(uint64_t *state, float *out, size_t n, double std);
void nncl_uniform_fill(uint64_t *state, float *out, size_t n, double bound);

#endif

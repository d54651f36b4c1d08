/* Private structures shared by the library's files: the context, the graph
 * and its nodes, the op table, and the helpers every op uses to launch
 * kernels, call GEMM and report errors. Nothing here is installed. */
#ifndef NNCL_INTERNAL_H
#define NNCL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "nncl.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define NNCL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define NNCL_PRINTF(fmt, args)
#endif

/* ---- errors (status.c) */

/* Records the message for nncl_last_error and returns status. */
nncl_status nncl_fail(nncl_status status, const char *fmt, ...) NNCL_PRINTF(2, 3);
nncl_status nncl_fail_v(nncl_status status, const char *fmt, va_list ap);
/* "CL_OUT_OF_RESOURCES" for -5; "CL_UNKNOWN_ERROR" otherwise. */
const char *nncl_cl_error_name(cl_int err);
/* nncl_fail(NNCL_ERROR_OPENCL, "<what>: <CL error name> (<code>)"). */
nncl_status nncl_fail_cl(cl_int err, const char *what);
/* Formats a shape as "[2, 3, 4]" into buf. */
const char *nncl_shape_str(nncl_shape shape, char *buf, size_t size);

/* ---- context (context.c, device.c) */

typedef struct nncl_program nncl_program;

/* Kinds of device work for profiling, in nncl_context_profile's order. */
typedef enum nncl_phase {
    NNCL_PHASE_CONV_FORWARD,
    NNCL_PHASE_CONV_BACKWARD_DATA,
    NNCL_PHASE_CONV_BACKWARD_WEIGHTS,
    NNCL_PHASE_GEMM,
    NNCL_PHASE_BATCH_NORM,
    NNCL_PHASE_POOLING,
    NNCL_PHASE_ELEMENTWISE,
    NNCL_PHASE_LOSS,
    NNCL_PHASE_OPTIMIZER,
} nncl_phase;

/* The event pointer a launch should pass: NULL unless profiling, when it
 * records the event under the context's current phase (profile.c). */
cl_event *nncl_profile_event(nncl_context *ctx, bool gemm);
void nncl_profile_release(nncl_context *ctx);

struct nncl_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    nncl_device_info info;
    char cache_dir[1024];         /* "" when the cache is off */
    size_t local_size;            /* work-group size for elementwise kernels */
    size_t reduce_size;           /* work-group size of per-channel reductions */
    char build_options[128];      /* -D defines every program is built with */
    uint64_t kernels_fingerprint; /* nncl_kernels_fingerprint(build_options) */
    int conv_algorithm;           /* forced convolution algorithm, -1: measured per layer */
    cl_mem partials;              /* scratch of nncl_sum */
    size_t base_align;            /* bytes a sub-buffer's origin must be a multiple of */
    bool gemm_packed;             /* GEMMs by nncl's packed kernels, else by CLBlast */
    bool in_gemm;                 /* launches being queued belong to a GEMM */
    cl_mem gemm_scratch;          /* packed panels, or CLBlast's padded copies */
    size_t gemm_scratch_bytes;
    unsigned gemm_vec; /* floats per vector in the packed GEMM; panels are two wide */
    uint64_t mem_current, mem_peak;
    /* Profiling: the kind of work being queued, and events not yet read. */
    bool profile;
    int phase; /* an nncl_phase */
    cl_event *events;
    int *event_phase;
    size_t n_events, events_cap;
    double phase_seconds[NNCL_PROFILE_KINDS];
    int64_t phase_launches[NNCL_PROFILE_KINDS];
    nncl_program *program; /* built on first use */
    /* Distinct GEMM shapes run so far, with call counts, for tuning. */
    struct nncl_gemm_shape {
        bool trans_a, trans_b;
        size_t m, n, k;
        uint64_t calls;
    } gemm_shapes[128];
    size_t n_gemm_shapes;
    /* The launch sites kernels are launched from now, NULL outside a plan. */
    struct nncl_launch_sites *site;
    size_t site_pos;
};

/* The convolution algorithm NNCL_CONV_ALGO or the options name: -1 for
 * "auto" or none, else its index; an unknown name fails (ops/conv_choice.c). */
nncl_status nncl_conv_algorithm_parse(const char *name, int *out);

/* Finds the device a spec names (NULL spec: the default rule). */
nncl_status nncl_device_select(const char *spec, cl_platform_id *platform, cl_device_id *device,
                               nncl_device_info *info);
void nncl_device_describe(cl_platform_id platform, cl_device_id device, nncl_device_info *info);

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
    bool complete; /* every argument in values is set on kernel */
} nncl_launch_record;

typedef struct nncl_launch_sites {
    nncl_launch_record *records;
    size_t n, cap;
} nncl_launch_sites;

/* Launches between enter and leave go to site's records in turn. */
void nncl_launch_sites_enter(nncl_context *ctx, nncl_launch_sites *site);
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
nncl_status nncl_buffer_fill(nncl_context *ctx, cl_mem mem, float value, size_t count);

/* ---- GEMM (gemm.c and gemm_tune.c, the only users of CLBlast) */

/* The packed kernels' path of nncl_gemm (gemm_packed.c), and the scratch
 * buffer both paths share, grown to at least `bytes`. */
nncl_status nncl_gemm_packed(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n,
                             size_t k, float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b,
                             size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                             size_t ldc);
nncl_status nncl_gemm_scratch(nncl_context *ctx, size_t bytes);
/* Columns per panel of the packed layout: B(kk, j) of a k x n matrix at
 * ((j / width) * k + kk) * width + j % width, zero past column n. */
size_t nncl_gemm_panel_width(const nncl_context *ctx);
/* Row-major C[m x n] = alpha * A * B + beta * C on the packed path, for B
 * its producer already wrote in the packed layout at packed + packed_off. */
nncl_status nncl_gemm_prepacked(nncl_context *ctx, size_t m, size_t n, size_t k, float alpha,
                                cl_mem a, size_t a_off, size_t lda, cl_mem packed,
                                size_t packed_off, float beta, cl_mem c, size_t c_off, size_t ldc);
/* Row-major C[m x n] = alpha * op(A) * op(B) + beta * C, offsets and leading
 * dimensions in elements. */
nncl_status nncl_gemm(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc);

/* Gives CLBlast the GEMM kernel parameters tuned for the context's device:
 * those nncl-tune stored in the cache directory, else the ones nncl ships
 * (PoCL's CPU device), else CLBlast's own. */
void nncl_gemm_configure(nncl_context *ctx);

/* The Xgemm parameters CLBlast takes, in its order, and applying a set. */
#define NNCL_XGEMM_PARAMS 16
extern const char *const nncl_xgemm_names[NNCL_XGEMM_PARAMS];
bool nncl_gemm_apply(nncl_context *ctx, const size_t *xgemm);
/* The parameters nncl ships for the device, or NULL. */
const size_t *nncl_gemm_shipped(const nncl_context *ctx);
/* "<cache>/gemm-tuning.txt" and this device's key in it. */
void nncl_gemm_tuning_path(const nncl_context *ctx, char *path, size_t size);
void nncl_gemm_device_key(const nncl_context *ctx, char *key, size_t size);

/* ---- host random numbers (rng.c) */

uint64_t nncl_splitmix64(uint64_t *state);
/* A standard normal sample (Box-Muller over splitmix64). */
double nncl_normal(uint64_t *state);
/* n samples of N(0, std^2), and of U(-bound, bound). */
void nncl_normal_fill(uint64_t *state, float *out, size_t n, double std);
void nncl_uniform_fill(uint64_t *state, float *out, size_t n, double bound);

/* ---- graph */

typedef enum nncl_op_kind {
#define NNCL_OP(kind, name, impl) NNCL_OP_##kind,
#include "ops/ops.def"
#undef NNCL_OP
    NNCL_OP_COUNT
} nncl_op_kind;

/* Geometry of a spatial op, always as 3 dims (D, H, W): a 2D op has D = 1,
 * kernel 1, stride 1, no padding in dim 0; a 1D op also in dim 1. */
typedef struct nncl_window {
    int32_t spatial; /* 1, 2 or 3 */
    int64_t in[3], out[3], kernel[3], stride[3], pad_begin[3], pad_end[3], dilation[3];
} nncl_window;

typedef enum nncl_activation {
    NNCL_ACT_RELU = 0,
    NNCL_ACT_LEAKY_RELU = 1,
    NNCL_ACT_SIGMOID = 2,
    NNCL_ACT_TANH = 3,
    NNCL_ACT_ELU = 4,
} nncl_activation;

typedef union nncl_op_attrs {
    struct {
        nncl_window win;
        int64_t groups;
        bool bias;
        int8_t algorithm[3]; /* per direction, chosen on first use; -1 before */
    } conv;
    struct {
        nncl_window win;
        bool exclude_pad;
    } pool;
    struct {
        float eps, momentum;
        bool affine;
        int64_t batches_tracked; /* PyTorch's num_batches_tracked */
    } bn;
    struct {
        float alpha;
    } act;
    struct {
        bool bias;
    } linear;
    struct {
        float p;
        uint64_t step; /* the forward step whose mask backward must reuse */
    } dropout;
    struct {
        nncl_reduction reduction;
        float smoothing, beta;
        int32_t ignore_index;
        float *class_weights; /* host copy owned by the node, or NULL */
    } loss;
} nncl_op_attrs;

typedef struct nncl_param_entry {
    char *name;
    nncl_shape shape;
    int64_t numel;
    bool trainable;
    bool frozen;
    cl_mem value;
    cl_mem grad;        /* NULL for buffers */
    int pack;           /* the nncl_param_pack holding value and grad, -1: own buffers */
    size_t pack_offset; /* floats from the pack's start */
} nncl_param_entry;

/* Trainable parameters side by side (param_pack.c): value and gradient
 * buffers of `floats` each, parameters at aligned offsets, zeros between. */
typedef struct nncl_param_pack {
    cl_mem value, grad;
    size_t floats;
} nncl_param_pack;

struct nncl_node {
    nncl_graph *graph;
    int32_t index;
    nncl_op_kind op;
    char *name;
    nncl_shape shape;
    bool is_labels;     /* int32 data */
    bool requires_grad; /* a gradient flows into this node's output */
    bool wants_grad;    /* inputs only: the user asked for the gradient */
    nncl_node **inputs;
    int32_t n_inputs;
    size_t first_param, n_params;
    nncl_op_attrs attrs;
    size_t workspace_bytes;        /* scratch the op needs while it runs */
    bool keep;                     /* value and gradient stay readable (nncl_graph_keep) */
    nncl_node *fused_act;          /* the activation this node's forward also applies */
    nncl_node *fused_into;         /* activations: the node whose forward computes this one */
    int32_t value_slot;            /* memory-plan slot of out, -1 when the node owns it */
    int32_t grad_slot;             /* memory-plan slot of grad, -1 when there is none */
    cl_mem out, grad;              /* borrowed from the plan's slots, except inputs' out */
    cl_mem aux[5];                 /* op state kept from forward for backward */
    bool *accumulate;              /* per input: add into its gradient (else overwrite) */
    nncl_launch_sites launches[3]; /* of forward in training, in eval, and of backward */
    bool in_backward;              /* on the path of the current backward pass */
};

/* One block of device memory that values and gradients with disjoint
 * lifetimes share, and which of them wrote it last (memplan.c). */
typedef struct nncl_slot {
    cl_mem mem;
    size_t bytes;
    const nncl_node *owner;
    bool owner_is_grad;
} nncl_slot;

struct nncl_graph {
    nncl_context *ctx;
    bool keep_values; /* no sharing: every value and gradient keeps its memory */
    nncl_slot *slots;
    size_t n_slots;
    uint64_t planned_bytes, unshared_bytes;
    uint64_t seed;
    nncl_node **nodes;
    size_t n_nodes, nodes_cap;
    nncl_param_entry *params;
    size_t n_params, params_cap;
    nncl_param_pack *packs;
    size_t n_packs;
    nncl_status status;
    char error[2048];
    bool training;
    bool planned;
    bool forward_done;
    bool forward_training; /* the mode the last forward pass ran in */
    uint64_t step;         /* training forward passes so far */
    cl_mem workspace;
    size_t workspace_bytes;
};

/* What an op's backward reads besides gradients: bit k for the value of
 * input k, NNCL_SAVES_OUTPUT for its own output. */
#define NNCL_SAVES_OUTPUT (1u << 31)
#define NNCL_SAVES_INPUT(k) (1u << (k))

/* One op's behaviour. plan and saves may be NULL (saves nothing). */
typedef struct nncl_op_vtable {
    nncl_status (*plan)(nncl_graph *g, nncl_node *node);
    nncl_status (*forward)(nncl_graph *g, nncl_node *node);
    nncl_status (*backward)(nncl_graph *g, nncl_node *node);
    uint32_t (*saves)(const nncl_node *node);
} nncl_op_vtable;

#define NNCL_OP(kind, name, impl) extern const nncl_op_vtable nncl_op_##impl;
#include "ops/ops.def"
#undef NNCL_OP

const char *nncl_op_name(nncl_op_kind op);
const nncl_op_vtable *nncl_op_vtable_of(nncl_op_kind op);
/* The profiling phase of an op's forward or backward pass. */
nncl_phase nncl_op_phase(nncl_op_kind op, bool backward);

/* Builder support (graph.c). Each returns NULL after recording an error. */
bool nncl_builder_ready(nncl_graph *g, const char *op, nncl_node *const *inputs, int32_t n);
nncl_node *nncl_node_add(nncl_graph *g, nncl_op_kind op, const char *name, nncl_node *const *inputs,
                         int32_t n_inputs, nncl_shape shape);
/* Records the graph's first error, prefixed with op and node, and returns NULL. */
nncl_node *nncl_build_fail(nncl_graph *g, nncl_status status, const char *op, const char *name,
                           const char *fmt, ...) NNCL_PRINTF(5, 6);
/* How a new parameter is filled: an nncl_init rule with its fans, or a
 * constant. */
typedef struct nncl_fill {
    nncl_init init;
    float value;
    int64_t fan_in, fan_out;
} nncl_fill;
#define NNCL_FILL_CONSTANT(v) ((nncl_fill){.init = NNCL_INIT_CONSTANT, .value = (v)})
/* Adds a parameter (trainable) or buffer "<node>.<suffix>". */
bool nncl_param_add(nncl_graph *g, nncl_node *node, const char *suffix, nncl_shape shape,
                    bool trainable, nncl_fill fill);
/* A parameter that takes gradients: trainable and not frozen. */
bool nncl_param_learns(const nncl_param_entry *p);

/* Moves trainable parameters not yet packed into a new pack; a no-op when
 * all are. Values and gradients are kept. */
nncl_status nncl_params_pack(nncl_graph *g);
void nncl_params_release(nncl_graph *g);
/* Floats p takes in a pack: its size rounded up to the device's sub-buffer
 * alignment, where the next parameter starts. */
size_t nncl_pack_span(const nncl_context *ctx, const nncl_param_entry *p);
/* A sub-buffer of `count` floats from float `first` of parent. */
nncl_status nncl_sub_buffer(cl_mem parent, size_t first, size_t count, cl_mem *out);
nncl_param_entry *nncl_node_param(nncl_graph *g, const nncl_node *node, size_t i);

/* nncl_graph_set_input, queued: with done set, returns at once and the
 * caller keeps `data` alive until the event completes. */
nncl_status nncl_graph_write_input(nncl_graph *g, nncl_node *input, const void *data, size_t bytes,
                                   cl_event *done);

/* Sets every node's requires_grad: a gradient flows into its output
 * (it has learning parameters, asked for one, or an input has one). */
void nncl_mark_gradients(nncl_graph *g);

/* Memory plan (memplan.c): gives every non-input node's value, and its
 * gradient where one flows, a slot shared with buffers whose lifetimes in
 * a forward + backward pass do not overlap. */
nncl_status nncl_memplan_build(nncl_graph *g);
void nncl_memplan_release(nncl_graph *g);
/* Records that node's value (or gradient) now holds the slot. */
void nncl_memplan_claim(nncl_graph *g, const nncl_node *node, bool grad);
/* Whether node's value (gradient) is still in its memory. */
bool nncl_memplan_holds(const nncl_graph *g, const nncl_node *node, bool grad);
/* NNCL_OK when node's value (gradient) is still in its memory, else an
 * NNCL_ERROR_STATE naming the node that reused it. */
nncl_status nncl_memplan_check(const nncl_graph *g, const nncl_node *node, bool grad,
                               const char *call);

/* Fusion (fuse.c): an activation that is the only consumer of a conv or
 * linear layer with bias, or of batch norm (ReLU), is computed in its
 * producer's last pass; decided at plan time. */
void nncl_fuse(nncl_graph *g);
/* Producer epilogue: y += bias per channel over [rows = N*C, inner], and
 * the fused activation if any, written to that activation's output. */
nncl_status nncl_bias_epilogue(nncl_graph *g, nncl_node *producer, cl_mem bias, size_t channels,
                               size_t inner, size_t rows);

/* Makes sure node->aux[slot] exists with `bytes` (zero-filled when new). */
nncl_status nncl_node_aux(nncl_graph *g, nncl_node *node, int slot, size_t bytes);

/* Fails a running op with "op 'x' node 'y': ..." */
nncl_status nncl_node_fail(const nncl_node *node, nncl_status status, const char *fmt, ...)
    NNCL_PRINTF(3, 4);

/* Spatial geometry shared by conv and pooling (window.c). */
typedef struct nncl_window_request {
    const int64_t *kernel, *stride, *padding, *pad_begin, *pad_end, *dilation;
    bool padding_same, ceil_mode, default_stride_is_kernel;
} nncl_window_request;
/* Fills win from x's shape and the request; on a bad request records the
 * graph error and returns false. */
bool nncl_window_plan(nncl_graph *g, const char *op, const char *name, nncl_shape x,
                      const nncl_window_request *req, nncl_window *win);
int64_t nncl_window_volume(const int64_t v[3]);
/* The window's dims as kernel arguments (d, h, w, 0). */
cl_int4 nncl_int4(const int64_t v[3]);
/* Product of dims [from, rank). */
int64_t nncl_shape_inner(nncl_shape s, int32_t from);

#endif

/* nncl: build and train convolutional neural networks on any OpenCL device.
 *
 * This header is the whole public API and its manual.
 *
 * OVERVIEW
 *
 *   A context owns one OpenCL device and its queue. A graph, created in a
 *   context, holds the layers (nodes) of a network and their parameters. Nodes
 *   are added by builder calls that take the node(s) they consume and return
 *   the new node, so a network is written top to bottom like a PyTorch
 *   forward(). A graph is then run: inputs are set from host memory, the
 *   forward pass computes every node, and the backward pass computes the
 *   gradient of a chosen output with respect to every parameter (and to any
 *   input that asked for one).
 *
 *   Tensors are float32 in PyTorch's layouts: NCW (1D), NCHW (2D) and NCDHW
 *   (3D). Labels are int32. Parameters carry PyTorch state_dict names
 *   ("conv1.weight", "bn1.running_mean"), so weights move across unchanged.
 *   Models made elsewhere come in as ONNX (nncl_onnx_import) and any graph
 *   goes out as ONNX (nncl_onnx_export), for other runtimes. Several
 *   processes, one device each, train one model over MPI (nncl_dist).
 *
 * EXAMPLE
 *
 *   #include <nncl.h>
 *   #include <stdio.h>
 *
 *   int main(void) {
 *       nncl_context *ctx;
 *       if (nncl_context_create(NULL, &ctx) != NNCL_OK) {   // NNCL_DEVICE picks it
 *           fprintf(stderr, "nncl: %s\n", nncl_last_error());
 *           return 1;
 *       }
 *       nncl_graph *g;
 *       nncl_graph_create(ctx, NULL, &g);
 *       nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(8, 1, 28, 28));
 *       nncl_node *y = nncl_input_labels(g, "label", 8);
 *       nncl_node *h = nncl_conv(g, x, &(nncl_conv_params){ .out_channels = 16,
 *                                .kernel = {3, 3}, .padding = {1, 1} }, "conv1");
 *       h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn1"), NULL);
 *       h = nncl_max_pool(g, h, &(nncl_pool_params){ .kernel = {2, 2} }, "pool1");
 *       h = nncl_linear(g, nncl_flatten(g, h, NULL), 10, NULL, "fc");
 *       nncl_node *loss = nncl_cross_entropy(g, h, y, NULL, "loss");
 *       if (nncl_graph_status(g) != NNCL_OK) {               // the first building error
 *           fprintf(stderr, "%s\n", nncl_graph_error(g));
 *           return 1;
 *       }
 *       nncl_optimizer *opt;
 *       nncl_optimizer_create(g, &(nncl_optim_params){ .kind = NNCL_OPTIM_SGD, .lr = 0.1f },
 *                             &opt);
 *       static float images[8 * 28 * 28];                    // image i: a bright row 2i + 4
 *       int32_t labels[8];
 *       for (int i = 0; i < 8; i++) {
 *           labels[i] = i;
 *           for (int c = 0; c < 28; c++) images[(i * 28 + 2 * i + 4) * 28 + c] = 1.0f;
 *       }
 *       nncl_status st = NNCL_OK;
 *       float first = 0, last = 0;
 *       for (int step = 0; step < 20 && st == NNCL_OK; step++) {
 *           st = nncl_graph_set_input(g, x, images, sizeof images);
 *           if (st == NNCL_OK) st = nncl_graph_set_input(g, y, labels, sizeof labels);
 *           if (st == NNCL_OK) st = nncl_train_step(g, opt, loss, &last); // fwd, bwd, update
 *           if (step == 0) first = last;
 *       }
 *       if (st != NNCL_OK) fprintf(stderr, "nncl: %s\n", nncl_last_error());
 *       else printf("loss %.4f -> %.4f\n", first, last);
 *       nncl_optimizer_destroy(opt);                         // before its graph
 *       nncl_graph_destroy(g);
 *       nncl_context_destroy(ctx);
 *       return st == NNCL_OK && last < first ? 0 : 1;
 *   }
 *
 * CONVENTIONS
 *
 *   - Calls that can fail return nncl_status; NNCL_OK is 0. On failure
 *     nncl_last_error() (per thread) says what failed: the op, the node, the
 *     shapes, the OpenCL error name or the kernel build log.
 *   - Every builder takes the new node's name last (NULL: "<op>_<index>");
 *     names are unique in a graph, parameters are "<name>.weight" and the
 *     like, and nncl_graph_node finds a node by its name.
 *   - Builders return NULL on error. The graph keeps its first error
 *     (nncl_graph_status / nncl_graph_error); once it has one, every later
 *     builder returns NULL, so a whole network can be built and checked once.
 *   - Option structs: a zeroed field means the documented default, and a NULL
 *     pointer to the struct means all defaults.
 *   - Host buffers passed in are copied, never kept. Strings returned by the
 *     library are owned by it unless the function says otherwise.
 *   - Destroying NULL is a no-op, and objects may be destroyed in any order
 *     (a graph after its context, an optimizer after its graph). The library
 *     never prints, exits or aborts.
 *   - Sizes from arguments and files are computed with overflow checks, and
 *     numbers must be finite: a bad one is NNCL_ERROR_INVALID_ARGUMENT (or
 *     NNCL_ERROR_SHAPE) naming it, never a crash or a wrapped size.
 *   - A context and the graphs in it are used from one thread at a time.
 */
#ifndef NNCL_H
#define NNCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported functions: the library is built with hidden
 * visibility, so nothing else leaves it. */
#if defined(_WIN32) && defined(NNCL_BUILDING)
#define NNCL_API __declspec(dllexport)
#elif defined(__GNUC__)
#define NNCL_API __attribute__((visibility("default")))
#else
#define NNCL_API
#endif

/* ---------------------------------------------------------------- status */

/* Every status, with its name. Values are stable. */
#define NNCL_STATUS_LIST(X)                                                                        \
    X(NNCL_OK, 0)                                                                                  \
    X(NNCL_ERROR_INVALID_ARGUMENT, 1)                                                              \
    X(NNCL_ERROR_SHAPE, 2)                                                                         \
    X(NNCL_ERROR_OUT_OF_MEMORY, 3)                                                                 \
    X(NNCL_ERROR_NO_DEVICE, 4)                                                                     \
    X(NNCL_ERROR_OPENCL, 5)                                                                        \
    X(NNCL_ERROR_BUILD, 6)                                                                         \
    X(NNCL_ERROR_GEMM, 7)                                                                          \
    X(NNCL_ERROR_NOT_FOUND, 8)                                                                     \
    X(NNCL_ERROR_STATE, 9)                                                                         \
    X(NNCL_ERROR_IO, 10)                                                                           \
    X(NNCL_ERROR_NUMERICS, 11)                                                                     \
    X(NNCL_ERROR_COMMUNICATION, 12)

typedef enum nncl_status {
#define NNCL_STATUS_ENUM_(name, value) name = value,
    NNCL_STATUS_LIST(NNCL_STATUS_ENUM_)
#undef NNCL_STATUS_ENUM_
} nncl_status;

/* "NNCL_ERROR_SHAPE" for NNCL_ERROR_SHAPE; "NNCL_UNKNOWN_STATUS" otherwise. */
NNCL_API const char *nncl_status_name(nncl_status status);

/* The message of the last failed call on this thread ("" if none). Valid until
 * the next failing call on the same thread. */
NNCL_API const char *nncl_last_error(void);

/* ---------------------------------------------------------------- shapes */

#define NNCL_MAX_RANK 5

/* A tensor shape: rank dims, outermost first (N, C, D, H, W). */
typedef struct nncl_shape {
    int32_t rank;
    int64_t dims[NNCL_MAX_RANK];
} nncl_shape;

#define NNCL_NARGS_(...) NNCL_NARGS_PICK_(__VA_ARGS__, 5, 4, 3, 2, 1, 0)
#define NNCL_NARGS_PICK_(a, b, c, d, e, n, ...) n
/* NNCL_SHAPE(64, 3, 32, 32): a shape literal of rank 1 to 5. */
#define NNCL_SHAPE(...) ((nncl_shape){.rank = NNCL_NARGS_(__VA_ARGS__), .dims = {__VA_ARGS__}})

/* Number of elements (product of dims); 0 for an invalid shape: rank
 * outside 1..NNCL_MAX_RANK, a dim <= 0, or a product past INT64_MAX. */
NNCL_API int64_t nncl_shape_numel(nncl_shape shape);

/* ---------------------------------------------------------------- devices */

typedef enum nncl_device_type {
    NNCL_DEVICE_GPU = 1,
    NNCL_DEVICE_CPU = 2,
    NNCL_DEVICE_ACCELERATOR = 3,
    NNCL_DEVICE_OTHER = 4,
} nncl_device_type;

/* What nncl knows of one OpenCL device. Strings are NUL-terminated copies. */
typedef struct nncl_device_info {
    int32_t platform_index;
    int32_t device_index;
    char platform_name[128];
    char platform_version[128];
    char name[128];
    char vendor[128];
    char device_version[128]; /* "OpenCL 3.0 ..." */
    char driver_version[128];
    char opencl_c_version[128]; /* "OpenCL C 1.2 ..." */
    nncl_device_type type;
    uint32_t compute_units;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    uint64_t max_work_group_size;
    uint32_t float_vector_width; /* native floats per SIMD operation (8 for AVX2, 1 on most GPUs) */
    bool fp16;
    bool fp64;
    bool is_default; /* the device a context gets with no NNCL_DEVICE and no option */
} nncl_device_info;

/* Lists every OpenCL device of every platform, in platform then device
 * order. Writes at most `capacity` entries to `out` (which may be NULL when
 * capacity is 0) and the total count to *count.
 * Returns NNCL_OK, NNCL_ERROR_NO_DEVICE (no OpenCL platform at all, *count =
 * 0) or NNCL_ERROR_INVALID_ARGUMENT (count NULL). */
NNCL_API nncl_status nncl_devices(nncl_device_info *out, size_t capacity, size_t *count);

/* ---------------------------------------------------------------- context */

typedef struct nncl_context nncl_context;

typedef struct nncl_context_options {
    /* Which device. NULL: the NNCL_DEVICE environment variable, and if that
     * is unset, the first GPU of any platform, else the first CPU device.
     * Accepted: "gpu", "cpu", "P:D" (platform and device index, as nncl-info
     * lists them) or a case-insensitive substring of the device name. */
    const char *device;
    /* Where compiled kernels, convolution algorithm choices and GEMM tuning
     * are cached. NULL: NNCL_CACHE_DIR, else $XDG_CACHE_HOME/nncl, else
     * ~/.cache/nncl. "off" disables the cache. A directory named here or in
     * NNCL_CACHE_DIR that cannot be created or written fails context
     * creation (NNCL_ERROR_IO); the default one is then off instead. On PoCL
     * compiled kernels are left to PoCL's own cache (POCL_CACHE_DIR) unless
     * POCL_KERNEL_CACHE=0. */
    const char *cache_dir;
    /* Time every kernel and GEMM with OpenCL profiling events, for
     * nncl_context_profile. Costs a little per launch; off by default. */
    bool profile;
    /* Convolution algorithm for every layer and direction where it applies
     * (elsewhere im2col): "im2col", "gemm1x1", "winograd" (F(2x2, 3x3)),
     * "winograd4" (F(4x4, 3x3): forward and input gradient),
     * "winograd4_fused" (the same with transforms and products fused per
     * block of tiles, for CPU devices on the packed GEMM), "direct",
     * "rows" (register tiles along output rows of stride 1: forward and
     * weight gradient, and the input gradient of stride-1 layers), "local"
     * (local-memory tiles, for GPUs: forward, stride-1 input gradient). NULL:
     * NNCL_CONV_ALGO, else "auto": each layer's fastest, measured on first
     * use and remembered in the cache directory. For tests and tuning. */
    const char *conv_algorithm;
    /* Matrix multiplication: "packed" (nncl's kernels, which read one
     * operand as panels, packing it where its layout needs; made for CPU
     * devices) or "clblast" (CLBlast, tuned by nncl_context_tune_gemm).
     * NULL: NNCL_GEMM, else "packed" on CPU devices and "clblast"
     * elsewhere. */
    const char *gemm;
    /* Numerical health check (also NNCL_CHECK_NUMERICS=1): after every op's
     * forward and backward and every optimizer update, the values it wrote
     * are read back and checked; the first NaN or infinity stops the call
     * with NNCL_ERROR_NUMERICS, naming the op, the node, the pass (forward,
     * backward, update) and its inputs' statistics (min, max, mean,
     * non-finite count). Each op then waits for the device: for debugging. */
    bool check_numerics;
    /* Deterministic mode (also NNCL_DETERMINISTIC=1): no choice depends on
     * timing. Convolution algorithms follow a fixed rule per layer shape
     * instead of being timed (remembered timings are ignored) and CLBlast
     * runs with its shipped parameters, not ones nncl_context_tune_gemm
     * stored. Two processes with the same seed and inputs on the same
     * device and driver then give bitwise-identical results, whatever
     * their caches hold.
     *
     * Without it the same holds within a process and across processes that
     * share a cache directory (the timed choices are remembered there);
     * different cache contents can pick other algorithms, whose results
     * differ in the last bits. Across devices or drivers results always
     * differ in the last bits: kernels, vector widths and summation order
     * follow the device. */
    bool deterministic;
    /* Floats per vector in the kernels that use vector loads (batch norm,
     * pooling, block copies, the packed GEMM): 1, 4, 8 or 16. 0:
     * NNCL_VECTOR_WIDTH, else the device's native float width (8 for AVX2,
     * 16 for AVX-512, 1 on most GPUs). Batch norm, pooling and copies use at
     * most 8, the packed GEMM at least 4. Forcing another width runs the kernels another device
     * gets: for testing them on this one. */
    int32_t vector_width;
    /* Work-items per work-group of the element-wise kernels: a power of two
     * up to the device's limit. 0: NNCL_WORK_GROUP_SIZE, else 256 on GPUs
     * and 64 elsewhere. Reductions and the packed GEMM size their groups
     * themselves. Like vector_width, for testing other devices' shapes. */
    int32_t work_group_size;
} nncl_context_options;

/* Creates a context on one device. `options` may be NULL (all defaults).
 * Returns NNCL_OK; NNCL_ERROR_NO_DEVICE when nothing matches (the message
 * lists the devices that exist); NNCL_ERROR_OPENCL; NNCL_ERROR_INVALID_ARGUMENT
 * (out NULL, an unknown conv_algorithm / NNCL_CONV_ALGO or gemm /
 * NNCL_GEMM, the message listing the known ones, a vector width other
 * than 0, 1, 4, 8, 16, or a work-group size that is not a power of two
 * within the device's limit); NNCL_ERROR_IO (a named
 * cache directory that cannot be used). *out is NULL on failure. */
NNCL_API nncl_status nncl_context_create(const nncl_context_options *options, nncl_context **out);

/* Destroys the context. Graphs (and their optimizers) still alive release
 * their device memory now; they stay valid to destroy, and any other call
 * on them returns NNCL_ERROR_STATE. Objects may be destroyed in any order. */
NNCL_API void nncl_context_destroy(nncl_context *ctx);

/* The device the context runs on. */
NNCL_API const nncl_device_info *nncl_context_device(const nncl_context *ctx);

/* The kernel cache directory in use, or "off". */
NNCL_API const char *nncl_context_cache_dir(const nncl_context *ctx);

/* The cache directory a context would use with these options (NULL: the
 * defaults), written to buf. Returns NNCL_ERROR_INVALID_ARGUMENT when buf is
 * too small or no home directory is known. */
NNCL_API nncl_status nncl_cache_dir(const nncl_context_options *options, char *buf, size_t size);

/* Builds the library's kernel program now (it is otherwise built on first
 * use), so that later calls pay no compile time. Some drivers (PoCL) still
 * generate each kernel's code on its first launch. Returns NNCL_OK,
 * NNCL_ERROR_BUILD (the message holds the build log) or NNCL_ERROR_OPENCL. */
NNCL_API nncl_status nncl_context_warm_up(nncl_context *ctx);

/* Device memory the context's buffers hold now and at most so far, bytes.
 * Besides graphs' and optimizers' buffers this counts the context's GEMM
 * scratch, which stays allocated at the largest operands copied (packed or
 * transposed, or CLBlast's temporaries) so far. */
NNCL_API void nncl_context_memory(const nncl_context *ctx, uint64_t *current, uint64_t *peak);

/* The kinds of device work profiling tells apart, in the order
 * nncl_context_profile reports them: X(enum suffix, name). */
#define NNCL_PROFILE_KIND_LIST(X)                                                                  \
    X(CONV_FORWARD, "conv forward")                                                                \
    X(CONV_BACKWARD_DATA, "conv backward-data")                                                    \
    X(CONV_BACKWARD_WEIGHTS, "conv backward-weights")                                              \
    X(GEMM, "gemm")                                                                                \
    X(BATCH_NORM, "batch norm")                                                                    \
    X(POOLING, "pooling")                                                                          \
    X(ELEMENTWISE, "elementwise")                                                                  \
    X(LOSS, "loss")                                                                                \
    X(OPTIMIZER, "optimizer")

typedef enum nncl_profile_kind {
#define NNCL_PROFILE_KIND_ENUM_(kind, name) NNCL_PROFILE_##kind,
    NNCL_PROFILE_KIND_LIST(NNCL_PROFILE_KIND_ENUM_)
#undef NNCL_PROFILE_KIND_ENUM_
        NNCL_PROFILE_KINDS /* how many kinds there are */
} nncl_profile_kind;

/* Device time of one kind of work, with profiling on. */
typedef struct nncl_profile_entry {
    const char *kind; /* static string: the kind's name above */
    double seconds;
    int64_t launches;
} nncl_profile_entry;

/* Waits for queued work, then writes up to capacity entries (all kinds,
 * fixed order) and their count. reset clears the totals afterwards.
 * Returns NNCL_ERROR_STATE when the context was made without profile. */
NNCL_API nncl_status nncl_context_profile(nncl_context *ctx, nncl_profile_entry *out,
                                          size_t capacity, size_t *count, bool reset);

/* GEMM tuning for the context's device (what tools/nncl-tune runs), for
 * the contexts whose GEMMs go through CLBlast (gemm "clblast", the default
 * except on CPU devices). It times CLBlast's Xgemm kernel with `candidates` parameter sets (0: 12),
 * the current one among them, on every GEMM shape this context has run so
 * far, weighted by how often each ran (so run a training step first), and
 * keeps the fastest: applied at once and stored per device and driver in
 * the cache directory, where later contexts on the device find it. When
 * no candidate beats the parameters in use, nothing is stored (the next
 * context uses the old ones again; this one keeps the best candidate).
 * `progress`, if not NULL, is called after each candidate. */
typedef struct nncl_gemm_tuning {
    int32_t shapes;        /* distinct GEMM shapes timed */
    int32_t tried, failed; /* candidates timed, and those CLBlast rejected */
    double before_seconds; /* the shapes' weighted time with the parameters in use before */
    double after_seconds;  /* the same with the best found */
    double gflops_before, gflops_after;
    char parameters[512]; /* the best, as "GEMMK=1 KREG=2 ..." */
} nncl_gemm_tuning;

/* Returns NNCL_OK; NNCL_ERROR_STATE when no GEMM has run yet or the cache
 * is off (nothing to store into); NNCL_ERROR_GEMM / NNCL_ERROR_OPENCL. */
NNCL_API nncl_status nncl_context_tune_gemm(nncl_context *ctx, int32_t candidates,
                                            void (*progress)(void *user, int32_t done,
                                                             int32_t total),
                                            void *user, nncl_gemm_tuning *out);

/* The GEMMs this context has run, for measuring them (nncl-bench --gemm):
 * each distinct row-major product C[m x n] = op(A) op(B), op(A) m x k,
 * with how often it ran. Convolution, linear and attention layers are
 * the callers. */
typedef struct nncl_gemm_call {
    bool trans_a, trans_b;
    int64_t m, n, k;
    int64_t calls; /* runs so far (timing runs do not count) */
} nncl_gemm_call;

/* Writes up to capacity calls, in the order first run, and their count
 * (which may exceed capacity). Returns NNCL_OK; NNCL_ERROR_INVALID_ARGUMENT
 * for a NULL ctx or count, or a NULL out with capacity > 0. */
NNCL_API nncl_status nncl_context_gemm_calls(const nncl_context *ctx, nncl_gemm_call *out,
                                             size_t capacity, size_t *count);

/* Runs one product of `shape` with the context's GEMM (the copies of its
 * operands included) on the host matrices a (m x k, or k x m with trans_a)
 * and b (k x n, or n x k with trans_b), row-major without padding: once
 * untimed, then reps times (reps >= 1), each from enqueue to finish. Writes
 * the fastest run's seconds and C (m x n, row-major; c may be NULL). Returns NNCL_OK;
 * NNCL_ERROR_INVALID_ARGUMENT (NULL pointers, dims < 1 or past INT32_MAX,
 * reps < 1), NNCL_ERROR_OUT_OF_MEMORY, NNCL_ERROR_GEMM, NNCL_ERROR_OPENCL. */
NNCL_API nncl_status nncl_context_time_gemm(nncl_context *ctx, const nncl_gemm_call *shape,
                                            const float *a, const float *b, float *c, int32_t reps,
                                            double *seconds);

/* ---------------------------------------------------------------- graphs */

typedef struct nncl_graph nncl_graph;
typedef struct nncl_node nncl_node;

typedef struct nncl_graph_options {
    uint64_t seed; /* seeds weight initialisation and dropout; default 0 */
    /* Off (the default): node values and gradients share device memory
     * wherever their lifetimes in a forward + backward pass do not overlap,
     * and only inputs, nodes nothing consumes and nodes passed to
     * nncl_graph_keep stay readable after a run. On: every node keeps its
     * own memory (for debugging; costs the sum of all activations). */
    bool keep_values;
} nncl_graph_options;

/* Creates an empty graph in ctx. `options` may be NULL. The context must
 * outlive the graph. Returns NNCL_OK, NNCL_ERROR_INVALID_ARGUMENT or
 * NNCL_ERROR_OUT_OF_MEMORY. */
NNCL_API nncl_status nncl_graph_create(nncl_context *ctx, const nncl_graph_options *options,
                                       nncl_graph **out);

/* Frees the graph, its nodes, parameters and device memory, before or after
 * its context. Optimizers still alive on it release their device memory
 * and stay valid to destroy (any other call on them is NNCL_ERROR_STATE). */
NNCL_API void nncl_graph_destroy(nncl_graph *g);

/* The first error met while building (NNCL_OK if none), and its message
 * ("" if none). The message names the op, the node and the shapes. */
NNCL_API nncl_status nncl_graph_status(const nncl_graph *g);
NNCL_API const char *nncl_graph_error(const nncl_graph *g);

/* A node's output shape and name (borrowed from the graph). */
NNCL_API nncl_shape nncl_node_shape(const nncl_node *node);
NNCL_API const char *nncl_node_name(const nncl_node *node);
/* The node's op ("conv", "linear", ...: the summary's op column) and its
 * input k (NULL past the last), for walking a graph built elsewhere, such
 * as an imported one. */
NNCL_API const char *nncl_node_op(const nncl_node *node);
NNCL_API nncl_node *nncl_node_input(const nncl_node *node, int32_t k);
/* Whether node holds int32 values (label and id inputs) rather than
 * float32: nncl_graph_set_input and nncl_graph_read take int32_t then. */
NNCL_API bool nncl_node_holds_ints(const nncl_node *node);
/* The node named `name` (given to its builder, or made up as "<op>_<index>"
 * when none was), or NULL with NNCL_ERROR_NOT_FOUND in nncl_last_error. */
NNCL_API nncl_node *nncl_graph_node(const nncl_graph *g, const char *name);

/* A readable table like torchsummary's: per node its name, op, output shape,
 * parameter count and multiply-adds of one forward pass ("--" for ops that
 * multiply no weights or matrices), then the totals. *text is malloc'd; release it with
 * nncl_free. */
NNCL_API nncl_status nncl_graph_summary(const nncl_graph *g, char **text);

/* Bytes of every node's output, plus its gradient where one flows, as if
 * each had its own buffer: the activation memory of a training step
 * without any reuse (parameters and scratch not included). */
NNCL_API uint64_t nncl_graph_activation_bytes(nncl_graph *g);

/* Keeps node's value (and gradient, if one flows) in memory of its own, so
 * nncl_graph_read / nncl_graph_read_grad work on it after a run. Inputs and
 * nodes nothing consumes (losses, outputs) are always kept. Call before the
 * run that should keep it. Returns NNCL_OK or NNCL_ERROR_INVALID_ARGUMENT. */
NNCL_API nncl_status nncl_graph_keep(nncl_graph *g, nncl_node *node);

/* Device memory of the graph's plan for a training step. */
typedef struct nncl_graph_memory_info {
    uint64_t values_planned;  /* node values + gradients, with sharing */
    uint64_t values_unshared; /* the same without sharing (each its own buffer) */
    uint64_t workspace;       /* scratch shared by all ops (im2col columns, ...) */
    uint64_t parameters;      /* parameters and their gradients */
} nncl_graph_memory_info;

/* Plans the graph now: which nodes carry gradients, trainable parameters
 * packed side by side, activations fused into their producers, device
 * memory placed (values and gradients with disjoint lifetimes share it),
 * each op's scratch sized. The first nncl_graph_forward or
 * nncl_graph_set_input plans implicitly; adding a node, nncl_graph_keep,
 * nncl_graph_freeze and nncl_input_set_requires_grad make the next call
 * plan again. Planning early moves the allocation (and its errors) to a
 * place of the caller's choosing. Returns NNCL_OK, NNCL_ERROR_INVALID_ARGUMENT
 * (g NULL), NNCL_ERROR_STATE (a build error) or an allocation error. */
NNCL_API nncl_status nncl_graph_plan(nncl_graph *g);

/* Runs the graph on `batch` samples, 1 up to the batch it was built for,
 * without rebuilding it or touching its parameters and optimizer state:
 * a last partial batch, one image for a saliency map, inference on
 * whatever arrives. Every node whose dim 0 is the built batch (the inputs,
 * and what keeps their batch in dim 0) takes the new one; losses and
 * metrics reduce over it; batch norm in training mode uses the statistics
 * of these samples, as PyTorch does on a smaller batch. Results equal a
 * graph built for that batch (bit for bit with the same convolution
 * algorithms, as in deterministic mode). Memory stays planned for the full
 * batch, so switching costs nothing. The inputs must then be set again,
 * with `batch` samples. Returns NNCL_OK, NNCL_ERROR_INVALID_ARGUMENT (out
 * of range) or NNCL_ERROR_STATE (a node mixes the batch into another dim,
 * named; no inputs; a build error). Nodes can only be added at the full
 * batch. */
NNCL_API nncl_status nncl_graph_set_batch(nncl_graph *g, int64_t batch);
/* The batch the graph runs at: its inputs' dim 0 unless set. */
NNCL_API int64_t nncl_graph_batch(const nncl_graph *g);

/* Plans the graph if needed (allocating its memory) and reports sizes.
 * Returns NNCL_OK, NNCL_ERROR_INVALID_ARGUMENT, NNCL_ERROR_STATE (a build
 * error) or an allocation error. */
NNCL_API nncl_status nncl_graph_memory(nncl_graph *g, nncl_graph_memory_info *info);

/* Frees memory the library handed to the caller (nncl_graph_summary). */
NNCL_API void nncl_free(void *ptr);

/* ---------------------------------------------------------------- builders
 *
 * Each builder takes the graph, its input node(s), an optional parameter
 * struct (NULL: defaults) and an optional name (NULL: "<op>_<index>"). A
 * parameter of a node named "conv1" is called "conv1.weight", as in PyTorch.
 * Spatial ops take 1, 2 or 3 spatial dimensions from the input's rank (3, 4
 * or 5: NCW, NCHW, NCDHW); per-dimension arrays list D, H, W as far as the
 * input has them (for 2D: {H, W}). */

/* A float input of the given shape, set before each run with
 * nncl_graph_set_input. */
NNCL_API nncl_node *nncl_input(nncl_graph *g, const char *name, nncl_shape shape);

/* An int32 input of `batch` class indices, for nncl_cross_entropy. */
NNCL_API nncl_node *nncl_input_labels(nncl_graph *g, const char *name, int64_t batch);
/* Labels of any shape [N, ...], e.g. a class per pixel [N, H, W] for
 * segmentation (nncl_dataset_set_label_maps, nncl_accuracy). */
NNCL_API nncl_node *nncl_input_labels_nd(nncl_graph *g, const char *name, nncl_shape shape);

/* Makes the backward pass also compute the gradient with respect to a float
 * input (read it with nncl_graph_read_grad). Off by default. */
NNCL_API nncl_status nncl_input_set_requires_grad(nncl_graph *g, nncl_node *input,
                                                  bool requires_grad);

/* How conv and linear weights start (biases start at zero). fan_in is
 * C_in/groups * prod(kernel) (in_features for linear), fan_out is
 * C_out * prod(kernel) (out_features), as PyTorch's torch.nn.init counts:
 *   KAIMING_NORMAL   N(0, 2 / fan_in)            (the default)
 *   KAIMING_UNIFORM  U(-b, b), b = sqrt(6 / fan_in)
 *   XAVIER_NORMAL    N(0, 2 / (fan_in + fan_out))
 *   XAVIER_UNIFORM   U(-b, b), b = sqrt(6 / (fan_in + fan_out))
 *   ZEROS, CONSTANT  (init_value)
 *   NORMAL           N(0, s^2), s = init_value (0: 1), embeddings' default */
typedef enum nncl_init {
    NNCL_INIT_DEFAULT = 0,
    NNCL_INIT_KAIMING_NORMAL = 1,
    NNCL_INIT_KAIMING_UNIFORM = 2,
    NNCL_INIT_XAVIER_NORMAL = 3,
    NNCL_INIT_XAVIER_UNIFORM = 4,
    NNCL_INIT_ZEROS = 5,
    NNCL_INIT_CONSTANT = 6,
    NNCL_INIT_NORMAL = 7,
} nncl_init;

/* Convolution, PyTorch's Conv1d/2d/3d. Weight [C_out, C_in/groups, K...],
 * bias [C_out]. Output size per spatial dim:
 *   floor((in + pad_begin + pad_end - dilation*(kernel-1) - 1) / stride) + 1.
 * Padding on each side is padding[i] + pad_begin[i] (before) and
 * padding[i] + pad_end[i] (after); padding_same pads so that the output has
 * the input's size (stride 1 only, as PyTorch's padding='same'; any odd
 * remainder goes after). Weights start as `init` says (He normal by
 * default), drawn from the graph seed; bias zero. */
typedef struct nncl_conv_params {
    int64_t out_channels; /* required */
    int64_t kernel[3];    /* required, per spatial dim */
    int64_t stride[3];    /* 0: 1 */
    int64_t padding[3];   /* added on both sides */
    int64_t pad_begin[3]; /* added before, for asymmetric padding */
    int64_t pad_end[3];   /* added after */
    int64_t dilation[3];  /* 0: 1 */
    int64_t groups;       /* 0: 1; C_in and C_out must divide by it */
    bool padding_same;
    bool no_bias;
    nncl_init init;   /* weight initialisation */
    float init_value; /* NNCL_INIT_CONSTANT */
} nncl_conv_params;
NNCL_API nncl_node *nncl_conv(nncl_graph *g, nncl_node *x, const nncl_conv_params *params,
                              const char *name);

/* Transposed convolution ("deconvolution"), PyTorch's ConvTranspose1d/2d/3d,
 * the upsampling layer of encoder-decoders such as U-Net. x [N, C_in, in...]
 * gives [N, C_out, out...] with, per spatial dim,
 *   out = (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1.
 * Weight [C_in, C_out/groups, K...] (PyTorch's layout), bias [C_out].
 * output_padding (< stride or < dilation) adds rows at the end that pick
 * between the input sizes a strided convolution maps to the same size.
 * Weights start as `init` says with fan_in = C_out/groups * prod(kernel)
 * (PyTorch's count for this layout); bias zero. Runs on the convolution
 * algorithms (its forward is a convolution's input gradient).
 * NNCL_ERROR_SHAPE when the input is not NCW/NCHW/NCDHW, channels do not
 * divide by groups, or no output size fits; NNCL_ERROR_INVALID_ARGUMENT for
 * a bad parameter (the message names its dim). */
typedef struct nncl_conv_transpose_params {
    int64_t out_channels;      /* required */
    int64_t kernel[3];         /* required, per spatial dim */
    int64_t stride[3];         /* 0: 1 */
    int64_t padding[3];        /* removed from both ends of the output */
    int64_t output_padding[3]; /* added at the end of the output */
    int64_t dilation[3];       /* 0: 1 */
    int64_t groups;            /* 0: 1; C_in and C_out must divide by it */
    bool no_bias;
    nncl_init init;   /* weight initialisation */
    float init_value; /* NNCL_INIT_CONSTANT */
} nncl_conv_transpose_params;
NNCL_API nncl_node *nncl_conv_transpose(nncl_graph *g, nncl_node *x,
                                        const nncl_conv_transpose_params *params, const char *name);

/* Upsampling, PyTorch's nn.Upsample / F.interpolate over the spatial dims
 * of NCW, NCHW or NCDHW input: NEAREST, or LINEAR interpolation in every
 * spatial dim (PyTorch's linear, bilinear, trilinear), with align_corners
 * (linear only) as PyTorch defines it. The output size is `size` per dim,
 * or floor(in * scale) per dim when size[0] is 0; sizes and scales are not
 * mixed. The source coordinates are PyTorch's, computed the same way in
 * float (a scale factor given is used as given, not recomputed from the
 * sizes), so outputs match it. NNCL_ERROR_INVALID_ARGUMENT for a bad mode,
 * factor or a set unused dim; NNCL_ERROR_SHAPE for input that is not
 * spatial or an empty output. */
typedef enum nncl_upsample_mode {
    NNCL_UPSAMPLE_NEAREST = 0,
    NNCL_UPSAMPLE_LINEAR = 1,
} nncl_upsample_mode;
typedef struct nncl_upsample_params {
    nncl_upsample_mode mode;
    int64_t size[3]; /* output size per spatial dim */
    double scale[3]; /* or the scale factor per spatial dim */
    bool align_corners;
} nncl_upsample_params;
NNCL_API nncl_node *nncl_upsample(nncl_graph *g, nncl_node *x, const nncl_upsample_params *params,
                                  const char *name);

/* Adaptive pooling, PyTorch's AdaptiveAvgPool1d/2d/3d (max false) and
 * AdaptiveMaxPool1d/2d/3d (max true): output_size[i] windows along
 * spatial dim i (0 keeps the input's size), window o covering
 * [floor(o in / out), ceil((o + 1) in / out)). */
NNCL_API nncl_node *nncl_adaptive_pool(nncl_graph *g, nncl_node *x, bool max,
                                       const int64_t output_size[3], const char *name);

/* Max and average pooling, PyTorch's MaxPool and AvgPool in 1, 2 and 3D.
 * Output size as for convolution; with ceil_mode it rounds up, and a last
 * window that would start in the end padding is dropped. Padding per side
 * as for convolution, at most half the (dilated) kernel on each side.
 * Average pooling divides by the window clipped to the padded input
 * (count_include_pad, PyTorch's default) or, with exclude_pad, by the number
 * of real input elements in the window. dilation applies to max pooling. */
typedef struct nncl_pool_params {
    int64_t kernel[3]; /* required */
    int64_t stride[3]; /* 0: the kernel size */
    int64_t padding[3];
    int64_t pad_begin[3];
    int64_t pad_end[3];
    int64_t dilation[3]; /* 0: 1; max pooling only */
    bool ceil_mode;
    bool exclude_pad; /* average pooling: count_include_pad=False */
} nncl_pool_params;
NNCL_API nncl_node *nncl_max_pool(nncl_graph *g, nncl_node *x, const nncl_pool_params *params,
                                  const char *name);
NNCL_API nncl_node *nncl_avg_pool(nncl_graph *g, nncl_node *x, const nncl_pool_params *params,
                                  const char *name);

/* Global pooling over all spatial dims: [N, C, ...] -> [N, C, 1, ...],
 * like AdaptiveAvgPool(1) / AdaptiveMaxPool(1). */
NNCL_API nncl_node *nncl_global_avg_pool(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_global_max_pool(nncl_graph *g, nncl_node *x, const char *name);

/* Batch normalisation over dim 1 of [N, C, ...] (Ioffe & Szegedy 2015),
 * PyTorch's BatchNorm1d/2d/3d. Training mode normalises by the batch mean
 * and biased variance and updates running_mean / running_var as
 * running = (1 - momentum) * running + momentum * batch, with the unbiased
 * batch variance. Eval mode uses the running statistics. Parameters
 * "<name>.weight" (gamma, ones) and "<name>.bias" (beta, zeros); buffers
 * "<name>.running_mean" (zeros) and "<name>.running_var" (ones). */
typedef struct nncl_batch_norm_params {
    float eps;      /* 0: 1e-5 */
    float momentum; /* 0: 0.1 */
    bool no_affine; /* no gamma / beta */
} nncl_batch_norm_params;
NNCL_API nncl_node *nncl_batch_norm(nncl_graph *g, nncl_node *x,
                                    const nncl_batch_norm_params *params, const char *name);

/* Group norm and layer norm options: eps (0: 1e-5) and whether the affine
 * weight (ones) and bias (zeros) are left out. */
typedef struct nncl_norm_params {
    float eps;
    bool no_affine;
} nncl_norm_params;
/* Group norm (Wu & He 2018), PyTorch's GroupNorm: x [N, C, ...], each
 * sample's C channels in `groups` groups normalised over the group's
 * channels and positions (biased variance), then weight and bias [C].
 * NNCL_ERROR_SHAPE when C does not divide into groups. */
NNCL_API nncl_node *nncl_group_norm(nncl_graph *g, nncl_node *x, int64_t groups,
                                    const nncl_norm_params *params, const char *name);
/* Layer norm (Ba et al. 2016), PyTorch's LayerNorm with normalized_shape
 * the last `normalized_dims` dims of x: each slice over those dims
 * normalised, weight and bias of that shape. NNCL_ERROR_SHAPE when
 * normalized_dims is not in 1..rank. */
NNCL_API nncl_node *nncl_layer_norm(nncl_graph *g, nncl_node *x, int32_t normalized_dims,
                                    const nncl_norm_params *params, const char *name);
/* Instance norm (Ulyanov et al. 2016), PyTorch's InstanceNorm1d/2d/3d:
 * each sample's channel normalised over its positions. As PyTorch, no
 * affine weights and no running statistics unless asked for; with
 * track_running_stats, training updates running_mean / running_var [C]
 * (mean over the batch of the instances' mean and unbiased variance,
 * weighted by momentum, 0: 0.1) and eval mode normalises with them. */
typedef struct nncl_instance_norm_params {
    float eps;      /* 0: 1e-5 */
    float momentum; /* 0: 0.1 */
    bool affine;
    bool track_running_stats;
} nncl_instance_norm_params;
NNCL_API nncl_node *nncl_instance_norm(nncl_graph *g, nncl_node *x,
                                       const nncl_instance_norm_params *params, const char *name);

/* Local response normalisation across channels (AlexNet), PyTorch's
 * LocalResponseNorm: y = x / (k + alpha/size * sum of x^2 over channels
 * c - size/2 .. c + (size-1)/2)^beta, x [N, C, ...]. PyTorch's defaults
 * are alpha 1e-4, beta 0.75, k 1. */
NNCL_API nncl_node *nncl_local_response_norm(nncl_graph *g, nncl_node *x, int64_t size, float alpha,
                                             float beta, float k, const char *name);

/* Elementwise activations, any shape. leaky_relu: x < 0 -> slope * x
 * (slope 0: 0.01). elu: x < 0 -> alpha * (exp(x) - 1) (alpha 0: 1). */
NNCL_API nncl_node *nncl_relu(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_leaky_relu(nncl_graph *g, nncl_node *x, float slope, const char *name);
NNCL_API nncl_node *nncl_sigmoid(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_tanh(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_elu(nncl_graph *g, nncl_node *x, float alpha, const char *name);
/* GELU, x * Phi(x) with Phi the standard normal CDF (PyTorch's GELU()), or
 * with tanh_approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))
 * (GELU(approximate='tanh')). */
NNCL_API nncl_node *nncl_gelu(nncl_graph *g, nncl_node *x, bool tanh_approximation,
                              const char *name);
/* SiLU / Swish: x * sigmoid(x). */
NNCL_API nncl_node *nncl_silu(nncl_graph *g, nncl_node *x, const char *name);
/* Softplus: log(1 + exp(beta x)) / beta, and x where beta x > threshold
 * (0: beta 1, threshold 20, PyTorch's defaults). Negative values:
 * NNCL_ERROR_INVALID_ARGUMENT. */
NNCL_API nncl_node *nncl_softplus(nncl_graph *g, nncl_node *x, float beta, float threshold,
                                  const char *name);
/* ReLU6: min(max(x, 0), 6) (MobileNet). */
NNCL_API nncl_node *nncl_relu6(nncl_graph *g, nncl_node *x, const char *name);
/* Hard-sigmoid relu6(x + 3) / 6 and hard-swish x * relu6(x + 3) / 6
 * (MobileNetV3; PyTorch's Hardsigmoid and Hardswish). */
NNCL_API nncl_node *nncl_hardsigmoid(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_hardswish(nncl_graph *g, nncl_node *x, const char *name);
/* SELU (Klambauer et al. 2017): scale * (x for x > 0, alpha * (exp(x) - 1)
 * otherwise); alpha and scale 0 take PyTorch's constants (1.6732632...,
 * 1.0507009...). */
NNCL_API nncl_node *nncl_selu(nncl_graph *g, nncl_node *x, float alpha, float scale,
                              const char *name);
/* torch.clamp: min(max(x, min), max); a bound may be -INFINITY / INFINITY
 * (one-sided), and min > max gives max everywhere. The gradient passes
 * where min <= x <= max. A NaN bound: NNCL_ERROR_INVALID_ARGUMENT. */
NNCL_API nncl_node *nncl_clamp(nncl_graph *g, nncl_node *x, float min, float max, const char *name);
/* Elementwise math, PyTorch's abs, neg, exp, log, sqrt, reciprocal and
 * erf, any shape; outside their domains (log or sqrt of a negative, 1/0)
 * the results are IEEE's NaN and infinities, as PyTorch's. */
NNCL_API nncl_node *nncl_abs(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_neg(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_exp(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_log(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_sqrt(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_reciprocal(nncl_graph *g, nncl_node *x, const char *name);
NNCL_API nncl_node *nncl_erf(nncl_graph *g, nncl_node *x, const char *name);
/* PReLU: x for x > 0, a * x otherwise, with learned slopes "<name>.weight"
 * [num_parameters]: 1 (one slope, 0 means 1 too) or the channels (dim 1),
 * starting at `init` (PyTorch's default 0.25). NNCL_ERROR_SHAPE for another
 * count. */
NNCL_API nncl_node *nncl_prelu(nncl_graph *g, nncl_node *x, int64_t num_parameters, float init,
                               const char *name);
/* Maxout: [N, C, ...] -> [N, C/k, ...], channel j the max of input
 * channels j*k .. j*k+k-1 (x.view(N, C/k, k, ...).max(2) in PyTorch).
 * NNCL_ERROR_SHAPE when C is not a multiple of k. */
NNCL_API nncl_node *nncl_maxout(nncl_graph *g, nncl_node *x, int64_t k, const char *name);

/* Fully connected layer, PyTorch's Linear, over the last dim:
 * [..., in] -> [..., out_features], y = x W^T + b with weight
 * [out_features, in] (initialised as `init` says) and bias zero. */
typedef struct nncl_linear_params {
    bool no_bias;
    nncl_init init;   /* weight initialisation */
    float init_value; /* NNCL_INIT_CONSTANT */
} nncl_linear_params;
NNCL_API nncl_node *nncl_linear(nncl_graph *g, nncl_node *x, int64_t out_features,
                                const nncl_linear_params *params, const char *name);

/* Embedding, PyTorch's nn.Embedding: int32 ids of any shape (an input from
 * nncl_input_labels_nd, e.g. token ids [N, L]) give ids' shape +
 * [embedding_dim], row ids[...] of the table "<name>.weight"
 * [num_embeddings, embedding_dim] (N(0, 1) at first, as PyTorch). The row
 * of padding_idx (negative counts from the end) starts at zero and takes
 * no gradient. An id outside [0, num_embeddings) is refused when set. */
typedef struct nncl_embedding_params {
    bool has_padding_idx;
    int64_t padding_idx;
    nncl_init init;   /* 0: NNCL_INIT_NORMAL */
    float init_value; /* NORMAL's std (0: 1), CONSTANT's value */
    /* > 0: each forward first scales every row it looks up whose
     * norm_type-norm (0: 2) exceeds max_norm down to it, in the table
     * itself (PyTorch's max_norm). 0: off. */
    float max_norm, norm_type;
} nncl_embedding_params;
NNCL_API nncl_node *nncl_embedding(nncl_graph *g, nncl_node *ids, int64_t num_embeddings,
                                   int64_t embedding_dim, const nncl_embedding_params *params,
                                   const char *name);

/* Attention pooling over the positions of x [N, C, positions...]: for each
 * of `heads` heads, scores s_p = w_h . x[:, p] + b_h (parameters
 * "<name>.weight" [heads, C] and "<name>.bias" [heads], i.e. a
 * Linear(C, heads) applied at every position), weights a = softmax over
 * the positions, and the pooled features sum_p a_p x[:, p]; the heads'
 * results side by side give [N, heads * C]. */
NNCL_API nncl_node *nncl_attention_pool(nncl_graph *g, nncl_node *x, int64_t heads,
                                        const char *name);
/* The attention weights of node's last forward pass, [N, heads, positions]
 * (float32, bytes must match), e.g. to draw where the model looked.
 * NNCL_ERROR_STATE before a forward pass. */
NNCL_API nncl_status nncl_attention_pool_weights(nncl_graph *g, const nncl_node *node, float *out,
                                                 size_t bytes);

/* Graph networks (Kipf & Welling 2017). A graph input holds a batch of
 * graphs as one block-diagonal graph of up to max_nodes nodes and
 * max_edges directed edges; node features are an ordinary input
 * [max_nodes, features]. nncl_graph_set_adjacency sets the first `nodes`
 * nodes from CSR rows (row i's neighbours are col[row_ptr[i] ..
 * row_ptr[i+1]), edge i -> j meaning j's features reach i) and each node's
 * graph in [0, graphs) (node_graph may be NULL for one graph); the rest
 * are padding, in no graph. The library adds self-loops and normalises:
 * A_hat = D^-1/2 (A + I) D^-1/2, D the row sums of A + I. It refuses, with
 * the array and index, a decreasing row_ptr, a column out of range, an
 * edge listed twice or joining two graphs, and more edges than max_edges
 * (NNCL_ERROR_INVALID_ARGUMENT; the graph keeps its previous adjacency);
 * otherwise NNCL_OK or a device error. A forward pass before the first
 * adjacency is NNCL_ERROR_STATE. nncl_graph_set_input does not apply to
 * graph inputs. */
NNCL_API nncl_node *nncl_input_graph(nncl_graph *g, const char *name, int64_t max_nodes,
                                     int64_t max_edges, int64_t graphs);
NNCL_API nncl_status nncl_graph_set_adjacency(nncl_graph *g, nncl_node *adjacency, int64_t nodes,
                                              const int32_t *row_ptr, const int32_t *col,
                                              const int32_t *node_graph);
/* Graph convolution: h [max_nodes, in] -> A_hat h W^T + b [max_nodes, out],
 * weight "<name>.weight" [out, in] (Xavier uniform unless params->init
 * says otherwise, as PyTorch Geometric's GCNConv) and bias [out]. */
NNCL_API nncl_node *nncl_graph_conv(nncl_graph *g, nncl_node *h, nncl_node *adjacency,
                                    int64_t out_features, const nncl_linear_params *params,
                                    const char *name);
/* Per-graph readout of node features h [max_nodes, F] -> [graphs, F]: the
 * sum, mean or max over each graph's nodes (an empty graph gives 0). */
typedef enum nncl_readout {
    NNCL_READOUT_SUM = 0,
    NNCL_READOUT_MEAN = 1,
    NNCL_READOUT_MAX = 2,
} nncl_readout;
NNCL_API nncl_node *nncl_graph_readout(nncl_graph *g, nncl_node *h, nncl_node *adjacency,
                                       nncl_readout mode, const char *name);

/* Permute, PyTorch's Tensor.permute: output dim k is input dim dims[k]
 * (one entry per input dim; negative counts from the end), copied out
 * contiguously. transpose swaps two dims. NNCL_ERROR_INVALID_ARGUMENT when
 * dims do not name every dim once. */
NNCL_API nncl_node *nncl_permute(nncl_graph *g, nncl_node *x, const int32_t *dims,
                                 const char *name);
NNCL_API nncl_node *nncl_transpose(nncl_graph *g, nncl_node *x, int32_t dim0, int32_t dim1,
                                   const char *name);
/* A slice along one dim, x[..., start:end:step] as Python: negative bounds
 * count from the end and are clamped, step 0 means 1; an empty slice or a
 * negative step is NNCL_ERROR_SHAPE. split cuts x along dim into `count`
 * slices of sizes[i] (adding up to the dim), named "<name>.<i>", into
 * out[0 .. count); it returns the graph's status. */
NNCL_API nncl_node *nncl_slice(nncl_graph *g, nncl_node *x, int32_t dim, int64_t start, int64_t end,
                               int64_t step, const char *name);
NNCL_API nncl_status nncl_split(nncl_graph *g, nncl_node *x, int32_t dim, const int64_t *sizes,
                                int32_t count, nncl_node **out, const char *name);
/* Padding, F.pad: pads[0], pads[1] before and after the last dim,
 * pads[2], pads[3] the dim before it, ... (n_pads even, up to 2 * rank,
 * each >= 0); CONSTANT fills with value, REFLECT mirrors without repeating
 * the edge (each pad below the dim's size), REPLICATE repeats the edge. */
typedef enum nncl_pad_mode {
    NNCL_PAD_CONSTANT = 0,
    NNCL_PAD_REFLECT = 1,
    NNCL_PAD_REPLICATE = 2,
} nncl_pad_mode;
NNCL_API nncl_node *nncl_pad(nncl_graph *g, nncl_node *x, const int64_t *pads, int32_t n_pads,
                             nncl_pad_mode mode, float value, const char *name);

/* [N, ...] -> [N, prod(...)]. */
NNCL_API nncl_node *nncl_flatten(nncl_graph *g, nncl_node *x, const char *name);
/* Same elements, new shape; one dim may be -1 (inferred). */
NNCL_API nncl_node *nncl_reshape(nncl_graph *g, nncl_node *x, nncl_shape shape, const char *name);

/* Elementwise a + b, a - b, a * b, a / b with PyTorch's broadcasting:
 * shapes aligned from the last dim, each pair of dims equal or one of them
 * 1 (a missing leading dim counts as 1); the result has the larger rank.
 * The gradient of a broadcast operand sums over the dims it was spread
 * along. NNCL_ERROR_SHAPE when the shapes do not broadcast. */
NNCL_API nncl_node *nncl_add(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name);
NNCL_API nncl_node *nncl_sub(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name);
NNCL_API nncl_node *nncl_mul(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name);
NNCL_API nncl_node *nncl_div(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name);
/* torch.pow, torch.maximum and torch.minimum, broadcasting as above. pow's
 * gradient with respect to b is pow(a, b) * log(a) (NaN where a < 0); the
 * larger (smaller) operand takes maximum's (minimum's) gradient, and ties
 * split it in halves, as PyTorch. */
NNCL_API nncl_node *nncl_pow(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name);
NNCL_API nncl_node *nncl_maximum(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name);
NNCL_API nncl_node *nncl_minimum(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name);
/* Matrix product, torch.matmul for operands of rank >= 2:
 * [..., M, K] x [..., K, N] -> [..., M, N], leading dims broadcast as for
 * nncl_add (a Gram matrix: nncl_matmul(f, nncl_transpose(f, -1, -2))).
 * NNCL_ERROR_SHAPE when K differs or the leading dims do not broadcast. */
NNCL_API nncl_node *nncl_matmul(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name);
/* Sum, mean or max of x over dims[0 .. n_dims) (negative count from the
 * end; n_dims 0: every dim), PyTorch's sum / mean / amax with keepdim: the
 * reduced dims are dropped, or kept as 1; reducing every dim without
 * keepdim gives [1]. max's gradient goes to the first maximum. */
typedef enum nncl_reduce_op {
    NNCL_REDUCE_SUM = 0,
    NNCL_REDUCE_MEAN = 1,
    NNCL_REDUCE_MAX = 2,
} nncl_reduce_op;
NNCL_API nncl_node *nncl_reduce(nncl_graph *g, nncl_node *x, nncl_reduce_op op, const int32_t *dims,
                                int32_t n_dims, bool keepdim, const char *name);
/* x * mul + add elementwise: x + s, x * s, x / s (mul 1/s), s - x (mul -1). */
NNCL_API nncl_node *nncl_scale(nncl_graph *g, nncl_node *x, float mul, float add, const char *name);
/* A learnable tensor as a node (nn.Parameter): its value is the trainable
 * parameter named `name` itself, of `shape`, started as init says (fans as
 * for a weight whose last dim is the input), e.g. attention queries,
 * positional tables, or the image style transfer optimises. */
NNCL_API nncl_node *nncl_parameter(nncl_graph *g, const char *name, nncl_shape shape,
                                   nncl_init init, float init_value);

/* Concatenation along dim 1 (channels); all other dims must match. */
NNCL_API nncl_node *nncl_concat(nncl_graph *g, nncl_node *const *inputs, int32_t count,
                                const char *name);

/* Dropout with probability p in [0, 1): in training mode zeroes each element
 * with probability p and scales the rest by 1 / (1 - p); identity in eval
 * mode. Masks come from a counter-based generator keyed by the graph seed,
 * the node and the step, so runs are reproducible. */
NNCL_API nncl_node *nncl_dropout(nncl_graph *g, nncl_node *x, float p, const char *name);

/* Softmax and log-softmax over dim 1 of [N, C, ...]. */
NNCL_API nncl_node *nncl_softmax(nncl_graph *g, nncl_node *x, const char *name);
/* Softmax (log false) or log-softmax over any dim (negative counts from
 * the end), PyTorch's softmax(x, dim). */
NNCL_API nncl_node *nncl_softmax_dim(nncl_graph *g, nncl_node *x, int32_t dim, bool log,
                                     const char *name);
NNCL_API nncl_node *nncl_log_softmax(nncl_graph *g, nncl_node *x, const char *name);

/* ---------------------------------------------------------------- losses
 *
 * PyTorch's loss functions and definitions. A loss node's output is [1] for
 * mean and sum reduction, and per sample ([N], class losses) or per element
 * (the input's shape, the others) with NNCL_REDUCTION_NONE. The gradient
 * flows into the first input (logits, predictions); labels and targets are
 * constants. */

typedef enum nncl_reduction {
    NNCL_REDUCTION_MEAN = 0, /* class losses: divided by the summed weights of counted samples */
    NNCL_REDUCTION_SUM = 1,
    NNCL_REDUCTION_NONE = 2,
    NNCL_REDUCTION_BATCHMEAN = 3, /* kl_div: the sum divided by the batch size */
} nncl_reduction;

typedef struct nncl_loss_params {
    nncl_reduction reduction;
    /* cross_entropy / nll_loss: one weight per class (copied), NULL for 1. */
    const float *class_weights;
    int64_t n_class_weights;
    /* cross_entropy: mixes the target with the uniform distribution, in [0, 1]. */
    float label_smoothing;
    /* cross_entropy / nll_loss: samples whose label is ignore_index add
     * nothing. Default -100, as PyTorch; set has_ignore_index to choose. */
    bool has_ignore_index;
    int32_t ignore_index;
    /* smooth_l1_loss: beta (0: 1); huber_loss: delta (0: 1). */
    float beta;
    /* dice_loss: added to each class's numerator and denominator, as given
     * (1 is common; 0 is allowed). */
    float smooth;
} nncl_loss_params;

/* Softmax cross-entropy: logits [N, C], labels from nncl_input_labels (N
 * class indices in [0, C), or the ignore index):
 *   loss_n = w[y_n] * ((1 - s) * -log p[y_n] + s/C * sum_c -w_c/w[y_n] log p_c)
 * with p = softmax(logits), s = label_smoothing (the smoothing term weighs
 * each class by its own weight, as PyTorch does). PyTorch's K-dimensional
 * case too: logits [N, C, d1, ...] with labels [N, d1, ...]
 * (nncl_input_labels_nd), a class per pixel for segmentation; each
 * position is one term, and reduction none gives [N, d1, ...].
 * NNCL_ERROR_SHAPE when the labels are not the logits' shape without dim 1. */
NNCL_API nncl_node *nncl_cross_entropy(nncl_graph *g, nncl_node *logits, nncl_node *labels,
                                       const nncl_loss_params *params, const char *name);
/* Negative log-likelihood of log-probabilities [N, C] or [N, C, d1, ...]
 * (nncl_log_softmax), labels as for cross_entropy: loss_n = -w[y_n] x[n, y_n]. */
NNCL_API nncl_node *nncl_nll_loss(nncl_graph *g, nncl_node *log_probs, nncl_node *labels,
                                  const nncl_loss_params *params, const char *name);
/* Soft Dice loss for segmentation: logits [N, C, d1, ...], labels
 * [N, d1, ...]; p = softmax over C and, per class c, over every position
 * of the batch whose label is not the ignore index,
 *   dice_c = (2 sum p_c [y = c] + smooth) / (sum p_c + sum [y = c] + smooth)
 *   loss = 1 - sum_c w_c dice_c / sum_c w_c           (w: class_weights, or 1)
 * (Milletari et al. 2016). A scalar; only the mean reduction. Add it to
 * cross_entropy for the usual combined segmentation loss. */
NNCL_API nncl_node *nncl_dice_loss(nncl_graph *g, nncl_node *logits, nncl_node *labels,
                                   const nncl_loss_params *params, const char *name);
/* Sigmoid + binary cross-entropy on logits, numerically stable:
 * max(x, 0) - x t + log(1 + exp(-|x|)); targets in [0, 1], same shape. */
NNCL_API nncl_node *nncl_bce_with_logits(nncl_graph *g, nncl_node *logits, nncl_node *targets,
                                         const nncl_loss_params *params, const char *name);
/* (x - t)^2, |x - t|, smooth L1 (0.5 d^2 / beta if |d| < beta, else
 * |d| - beta / 2) and Huber (0.5 d^2 if |d| <= delta, else
 * delta (|d| - delta / 2)); x and t of one shape. */
NNCL_API nncl_node *nncl_mse_loss(nncl_graph *g, nncl_node *x, nncl_node *target,
                                  const nncl_loss_params *params, const char *name);
NNCL_API nncl_node *nncl_l1_loss(nncl_graph *g, nncl_node *x, nncl_node *target,
                                 const nncl_loss_params *params, const char *name);
NNCL_API nncl_node *nncl_smooth_l1_loss(nncl_graph *g, nncl_node *x, nncl_node *target,
                                        const nncl_loss_params *params, const char *name);
NNCL_API nncl_node *nncl_huber_loss(nncl_graph *g, nncl_node *x, nncl_node *target,
                                    const nncl_loss_params *params, const char *name);
/* Kullback-Leibler divergence, PyTorch's KLDivLoss: input holds
 * log-probabilities, target probabilities; t (log t - x), 0 where t = 0.
 * Mean averages over all elements; BATCHMEAN (the true KL) over the batch. */
NNCL_API nncl_node *nncl_kl_div(nncl_graph *g, nncl_node *log_input, nncl_node *target,
                                const nncl_loss_params *params, const char *name);

/* Metrics for eval loops, computed on the device (no gradient flows through
 * them). nncl_argmax: the index of the largest value over dim 1 of
 * [N, C, ...] features, as int32 labels of shape [N, ...] (read them with
 * nncl_graph_read_labels); ties give the first index and NaN counts as the
 * largest, as torch.argmax. nncl_accuracy: the share of positions whose
 * argmax equals the label ([1], in [0, 1]); labels of shape [N, ...]. */
NNCL_API nncl_node *nncl_argmax(nncl_graph *g, nncl_node *x, const char *name);
/* Labels [N, ...] as one-hot features [N, classes, ...] (float32; classes
 * in dim 1, as logits), F.one_hot moved to the channel dim; a label
 * outside [0, classes) gives zeros (ONNX's OneHot). No gradient. */
NNCL_API nncl_node *nncl_one_hot(nncl_graph *g, nncl_node *labels, int64_t classes,
                                 const char *name);
NNCL_API nncl_node *nncl_accuracy(nncl_graph *g, nncl_node *logits, nncl_node *labels,
                                  const char *name);

/* ---------------------------------------------------------------- running */

/* Copies host data into an input: float32 for nncl_input, int32 for
 * nncl_input_labels. `bytes` must be the input's full size. Labels are
 * checked against the class count of the loss that reads them.
 * Returns NNCL_OK, NNCL_ERROR_INVALID_ARGUMENT (not an input, wrong size,
 * label out of range) or NNCL_ERROR_STATE (the graph has a build error).
 * nncl_graph_forward refuses to run while a float input was never set. */
NNCL_API nncl_status nncl_graph_set_input(nncl_graph *g, nncl_node *input, const void *data,
                                          size_t bytes);

/* Training mode (the default): batch norm uses batch statistics and updates
 * its running ones, dropout drops. Eval mode: running statistics, no dropout. */
NNCL_API void nncl_graph_set_training(nncl_graph *g, bool training);

/* Runs the forward pass over every node. Work is queued on the device; the
 * read calls below wait for it. Returns NNCL_OK, NNCL_ERROR_STATE (a build
 * error, or a float input never set, named), NNCL_ERROR_NUMERICS (with
 * check_numerics) or a device error. */
NNCL_API nncl_status nncl_graph_forward(nncl_graph *g);

/* Runs the backward pass from `output` after a forward pass: adds d(output)
 * / d(parameter) into every trainable parameter's gradient (gradients add up
 * across calls, as in PyTorch, until nncl_graph_zero_grad), and stores the
 * gradient of inputs that require one. `grad_output` (output's shape,
 * float32, `bytes` long) is the upstream gradient; NULL means 1 and needs a
 * one-element output such as a loss. A second backward after one forward
 * that needs values the first one's gradients overwrote returns
 * NNCL_ERROR_STATE (as PyTorch without retain_graph); graphs created with
 * keep_values allow it.
 * Saliency and Grad-CAM need no loss: pass the logits as output and a
 * one-hot grad_output on the chosen class of each sample; the gradient of
 * that score then reads from the input (nncl_input_set_requires_grad) and
 * from any node kept with nncl_graph_keep (nncl_graph_read_grad). */
NNCL_API nncl_status nncl_graph_backward(nncl_graph *g, nncl_node *output, const float *grad_output,
                                         size_t bytes);

/* Sets every parameter gradient to zero. */
NNCL_API nncl_status nncl_graph_zero_grad(nncl_graph *g);

/* Waits until all queued work is done. */
NNCL_API nncl_status nncl_graph_finish(nncl_graph *g);

/* Copies a node's output (after forward) or its gradient (after backward)
 * to host memory; `bytes` must be the node's full size in float32 (for a
 * labels input, whose values nncl_graph_read copies as they are: int32).
 * Inputs, nodes nothing consumes and kept nodes (nncl_graph_keep) can
 * always be read; another node only until a later node's value or gradient
 * reuses its memory (see nncl_graph_options.keep_values). A convolution
 * with bias whose only consumer is a batch norm leaves the bias to it and
 * holds its value without it: its value reads only when kept.
 * Returns NNCL_OK, NNCL_ERROR_INVALID_ARGUMENT (wrong size, foreign node) or
 * NNCL_ERROR_STATE (no forward pass yet; no gradient for this node; its
 * memory was reused, the message naming by which node; a convolution's
 * value without its bias). */
NNCL_API nncl_status nncl_graph_read(nncl_graph *g, const nncl_node *node, float *dst,
                                     size_t bytes);
NNCL_API nncl_status nncl_graph_read_grad(nncl_graph *g, const nncl_node *node, float *dst,
                                          size_t bytes);
/* nncl_graph_read for a node that holds int32 labels (a labels input, an
 * argmax): `bytes` is its count times 4. NNCL_ERROR_INVALID_ARGUMENT for a
 * node of floats. */
NNCL_API nncl_status nncl_graph_read_labels(nncl_graph *g, const nncl_node *node, int32_t *dst,
                                            size_t bytes);

/* ---------------------------------------------------------------- training
 *
 * An optimizer updates the graph's trainable parameters (those existing when
 * it is created; at each step those not frozen) from their gradients, on the
 * device, with torch.optim's update rules. nncl_train_step runs a whole
 * step. */

typedef struct nncl_optimizer nncl_optimizer;

typedef enum nncl_optim_kind {
    NNCL_OPTIM_SGD = 0,
    NNCL_OPTIM_ADAM = 1,
    NNCL_OPTIM_ADAMW = 2,
    NNCL_OPTIM_ADAGRAD = 3,
    NNCL_OPTIM_RMSPROP = 4,
    NNCL_OPTIM_ADADELTA = 5,
} nncl_optim_kind;

/* Zero means PyTorch's default for the kind, given after the field. */
typedef struct nncl_optim_params {
    nncl_optim_kind kind;
    float lr;        /* SGD: required; Adam(W) 1e-3; AdaGrad 1e-2; RMSProp 1e-2; AdaDelta 1 */
    float momentum;  /* SGD, RMSProp: 0 */
    float dampening; /* SGD: 0 */
    bool nesterov;   /* SGD: needs momentum */
    float beta1;     /* Adam(W): 0.9 */
    float beta2;     /* Adam(W): 0.999 */
    float eps;       /* Adam(W), RMSProp 1e-8; AdaGrad 1e-10; AdaDelta 1e-6 */
    float alpha;     /* RMSProp smoothing: 0.99 */
    bool centered;   /* RMSProp */
    float rho;       /* AdaDelta: 0.9 */
    float lr_decay;  /* AdaGrad: 0 */
    float initial_accumulator; /* AdaGrad: 0 */
    /* L2: weight_decay * w added to the gradient; AdamW decays the weight
     * itself by lr * weight_decay (its default 1e-2). */
    float weight_decay;
    float l1;             /* L1: l1 * sign(w) added to the gradient (with L2: elastic net) */
    float clip_grad_norm; /* > 0: scale all gradients so their global L2 norm is at most this */
} nncl_optim_params;

/* Creates an optimizer over g's trainable, unfrozen parameters; its state
 * (momentum, moments, accumulators) starts at zero. Returns NNCL_OK or
 * NNCL_ERROR_INVALID_ARGUMENT (unknown kind, SGD without lr, Nesterov
 * without momentum, negative, NaN or infinite values, betas outside
 * [0, 1)). */
NNCL_API nncl_status nncl_optimizer_create(nncl_graph *g, const nncl_optim_params *params,
                                           nncl_optimizer **out);
/* Frees the optimizer, before or after its graph and context. */
NNCL_API void nncl_optimizer_destroy(nncl_optimizer *opt);

/* One update from the current gradients (after nncl_graph_backward). */
NNCL_API nncl_status nncl_optimizer_step(nncl_optimizer *opt);
/* Updates done so far. */
NNCL_API int64_t nncl_optimizer_steps(const nncl_optimizer *opt);

/* Learning-rate schedules, PyTorch's lr_scheduler. The position advances by
 * nncl_optimizer_schedule_step (per epoch or per step, as the caller
 * chooses, like scheduler.step()); the rate at position e is
 *   STEP         lr * gamma^floor(e / step_size)
 *   MULTI_STEP   lr * gamma^(milestones <= e)
 *   EXPONENTIAL  lr * gamma^e
 *   COSINE       eta_min + (lr - eta_min) * (1 + cos(pi * e / t_max)) / 2
 * times, with warmup > 0, the linear warm-up factor (LinearLR)
 *   start + (1 - start) * min(e, warmup) / warmup. */
typedef enum nncl_schedule_kind {
    NNCL_SCHEDULE_CONSTANT = 0,
    NNCL_SCHEDULE_STEP = 1,
    NNCL_SCHEDULE_MULTI_STEP = 2,
    NNCL_SCHEDULE_EXPONENTIAL = 3,
    NNCL_SCHEDULE_COSINE = 4,
} nncl_schedule_kind;

#define NNCL_MAX_MILESTONES 16

typedef struct nncl_schedule {
    nncl_schedule_kind kind;
    int64_t step_size;                       /* STEP */
    float gamma;                             /* STEP, MULTI_STEP: 0.1; EXPONENTIAL: required */
    int64_t milestones[NNCL_MAX_MILESTONES]; /* MULTI_STEP, increasing */
    int32_t n_milestones;
    int64_t t_max;             /* COSINE */
    float eta_min;             /* COSINE */
    int64_t warmup;            /* linear warm-up length; 0: none */
    float warmup_start_factor; /* 0: 1/3, as LinearLR */
} nncl_schedule;

/* Sets the schedule (position back to 0). NNCL_ERROR_INVALID_ARGUMENT for
 * a schedule missing what its kind needs. */
NNCL_API nncl_status nncl_optimizer_set_schedule(nncl_optimizer *opt,
                                                 const nncl_schedule *schedule);
NNCL_API void nncl_optimizer_schedule_step(nncl_optimizer *opt);
/* The learning rate the next update uses. */
NNCL_API float nncl_optimizer_lr(const nncl_optimizer *opt);

/* One training step: zero the gradients, forward, backward from `loss` (a
 * one-element node), clip and update. Queued with no host synchronisation;
 * when loss_value is not NULL it waits for and returns the loss. */
NNCL_API nncl_status nncl_train_step(nncl_graph *g, nncl_optimizer *opt, nncl_node *loss,
                                     float *loss_value);

/* Freezes (or unfreezes) a layer's parameters: those named `layer` or under
 * it as a dot-separated prefix ("res.proj" freezes "res.proj.weight" and
 * "res.proj.bias", not "res.proj_bn.weight"; "fc.weight" one parameter; a
 * name ending in '.' is a plain prefix). No gradient is computed for a
 * frozen parameter, and every optimizer skips it from its next step on,
 * weight decay included, whether it was created before or after; an
 * unfrozen one resumes from its optimizer state. Returns NNCL_OK,
 * NNCL_ERROR_NOT_FOUND when nothing matches (nothing changes), or
 * NNCL_ERROR_INVALID_ARGUMENT. */
NNCL_API nncl_status nncl_graph_freeze(nncl_graph *g, const char *layer, bool frozen);
/* The same for several layers at once; every name must match one. */
NNCL_API nncl_status nncl_graph_freeze_layers(nncl_graph *g, const char *const *layers,
                                              size_t count, bool frozen);

/* Puts a layer in eval mode (eval true) whatever the graph's mode, or back
 * to following it: every node named `layer` or under it as a dot-separated
 * prefix. Batch norm there normalises with its running statistics and
 * leaves them (and num_batches_tracked) alone; dropout passes everything
 * through; gradients still flow. The usual fine-tuning recipe: freeze a
 * backbone (nncl_graph_freeze) and keep its batch-norm statistics fixed.
 * Returns NNCL_OK, NNCL_ERROR_NOT_FOUND (no such node), NNCL_ERROR_STATE
 * or NNCL_ERROR_INVALID_ARGUMENT. */
NNCL_API nncl_status nncl_graph_set_layer_eval(nncl_graph *g, const char *layer, bool eval);

/* A forward pass in eval mode (running statistics, no dropout), then
 * `output` copied to host memory (`bytes`: its full float32 size). The
 * graph's mode is restored afterwards. Winograd convolutions keep their
 * transformed weights between eval passes (device memory of 16/9 or 36/9
 * times their weights), transformed again after a parameter write, an
 * optimizer step or a checkpoint load. It runs on the graph's current
 * batch: nncl_graph_set_batch(g, n) first to infer on n samples. Same
 * statuses as nncl_graph_forward and nncl_graph_read. */
NNCL_API nncl_status nncl_graph_infer(nncl_graph *g, nncl_node *output, float *dst, size_t bytes);

/* ---------------------------------------------------------------- checkpoints
 *
 * Checkpoints are .safetensors files: every parameter and buffer under its
 * state_dict name (F32), each batch norm's num_batches_tracked (I64), the
 * optimizer's state as "optimizer.<param>.<state>" (torch.optim's names:
 * momentum_buffer, exp_avg, exp_avg_sq, sum, square_avg, grad_avg,
 * acc_delta), and in the metadata the step counts, the schedule position
 * and the dropout generator's position, so that training resumes exactly.
 * PyTorch loads the model tensors with safetensors.torch.load_file. */

typedef struct nncl_metadata {
    const char *key, *value;
} nncl_metadata;

/* Saves g (and opt's state when opt is not NULL) to path, plus the caller's
 * metadata strings (any number; keys unique, and "format" and "nncl.*" are
 * nncl's own). The write is atomic: a temporary file "<path>.tmp.<pid>" is
 * synced and renamed over path, so an interrupted save leaves the previous
 * file; a later save removes temporaries that killed processes left.
 * Returns NNCL_OK, NNCL_ERROR_INVALID_ARGUMENT (NULL arguments, a reserved
 * or repeated key), NNCL_ERROR_IO (naming the file and the reason) or a
 * device error from reading the parameters. */
NNCL_API nncl_status nncl_save(nncl_graph *g, const nncl_optimizer *opt, const char *path,
                               const nncl_metadata *metadata, size_t n_metadata);

typedef struct nncl_load_options {
    /* Load what matches and skip the rest (missing, extra or wrongly shaped
     * tensors), describing the skipped ones in report. Default: strict,
     * where any of them is an error naming each one and nothing is loaded. */
    bool non_strict;
    char *report; /* may be NULL */
    size_t report_size;
} nncl_load_options;

/* Loads path into g (and opt when not NULL; the optimizer's kind must
 * match). options may be NULL (strict). Returns NNCL_OK, NNCL_ERROR_IO,
 * NNCL_ERROR_INVALID_ARGUMENT (bad file: the message names the file, the
 * tensor and the header byte) or NNCL_ERROR_SHAPE (tensors that do not
 * fit, all named in the message). The whole file is checked before
 * anything is written, so on any of those errors nothing changed; only a
 * device failure while copying (NNCL_ERROR_OPENCL) can leave part loaded. */
NNCL_API nncl_status nncl_load(nncl_graph *g, nncl_optimizer *opt, const char *path,
                               const nncl_load_options *options);

/* Copies a checkpoint's metadata value for key into value. Returns
 * NNCL_ERROR_NOT_FOUND when the key is absent. */
NNCL_API nncl_status nncl_checkpoint_metadata(const char *path, const char *key, char *value,
                                              size_t size);

/* ---------------------------------------------------------------- data
 *
 * A dataset holds `count` samples of one shape [C, L] (signals), [C, H, W]
 * (images) or [C, D, H, W] (volumes), 8-bit or float32, and one int32
 * label each or a label map over the spatial dims, in host memory. A loader walks it in batches:
 * shuffled with a seed, 8-bit values scaled to [0, 1], normalised (per channel if asked),
 * optionally augmented, and prepared on a background thread while the
 * device works on the previous batch. */

typedef struct nncl_dataset nncl_dataset;
typedef struct nncl_loader nncl_loader;

/* Reads an IDX image file (ubyte, [count, H, W] or [count, C, H, W]) and
 * its IDX label file (ubyte, [count]), plain or gzip-compressed: the MNIST
 * and Fashion-MNIST format. Errors name the file: NNCL_ERROR_IO (missing,
 * unreadable, truncated, with the byte offset), NNCL_ERROR_INVALID_ARGUMENT
 * (wrong magic, unsupported type, counts that differ). */
NNCL_API nncl_status nncl_dataset_load_idx(const char *images_path, const char *labels_path,
                                           nncl_dataset **out);
/* Reads NumPy .npy files (np.save, format versions 1 to 3, C order,
 * little-endian): samples [count, C, L], [count, C, H, W] or
 * [count, C, D, H, W] (grey images too need their channel dim), as uint8
 * (kept as bytes and scaled to [0, 1] by the loader, like IDX images) or
 * as float32, float64 or integers (taken as float32 values as they are);
 * labels, integers of any width, either [count] (a class per sample) or
 * [count, spatial dims of the samples] (a class per position, as
 * nncl_dataset_set_label_maps). Errors name the file and the byte:
 * NNCL_ERROR_IO (missing, unreadable, truncated: the header's size is
 * checked against the file before anything is allocated),
 * NNCL_ERROR_INVALID_ARGUMENT (not .npy, an unsupported dtype or Fortran
 * order, a malformed header, counts that differ, a sample that is not
 * finite in float32, a label that is not a whole int32), NNCL_ERROR_SHAPE
 * (label maps that do not match the samples). */
NNCL_API nncl_status nncl_dataset_load_npy(const char *samples_path, const char *labels_path,
                                           nncl_dataset **out);
/* Writes ds as two .npy files that nncl_dataset_load_npy and NumPy's
 * np.load read: the samples (uint8 for 8-bit datasets, else float32) as
 * [count, C, spatial...], the labels as int32 [count] or their maps
 * [count, spatial...]. Each file is written atomically (a temporary beside
 * it, renamed). Returns NNCL_OK, NNCL_ERROR_INVALID_ARGUMENT (NULL) or
 * NNCL_ERROR_IO (naming the file and the reason). */
NNCL_API nncl_status nncl_dataset_save_npy(const nncl_dataset *ds, const char *samples_path,
                                           const char *labels_path);
/* The standard MNIST file names in dir: train-images-idx3-ubyte,
 * train-labels-idx1-ubyte (train) or t10k-* (test), each with or without
 * .gz. */
NNCL_API nncl_status nncl_dataset_load_mnist(const char *dir, bool train, nncl_dataset **out);
/* A dataset from memory (copied): count images of C x H x W bytes. */
NNCL_API nncl_status nncl_dataset_create(const uint8_t *images, const int32_t *labels,
                                         int64_t count, int64_t channels, int64_t height,
                                         int64_t width, nncl_dataset **out);
/* A dataset of float32 samples from memory (copied): count samples of
 * sample_shape, [C, L], [C, H, W] or [C, D, H, W], taken as they are (no
 * scaling), and their labels. NNCL_ERROR_INVALID_ARGUMENT for another rank,
 * a size that overflows, or a NaN or infinite value (named by index). */
NNCL_API nncl_status nncl_dataset_create_f32(const float *samples, const int32_t *labels,
                                             int64_t count, nncl_shape sample_shape,
                                             nncl_dataset **out);
/* Images as most people keep them: dir/<class>/<image>.png, ImageFolder's
 * layout. Classes are the subfolders in name order (labels 0, 1, ...),
 * images each folder's .png files in name order; all must have one size.
 * The first image decides the channels: gray gives [1, H, W] samples,
 * colour [3, H, W], and the others are converted to it (alpha is dropped
 * by compositing on black). Errors name the file: NNCL_ERROR_IO
 * (unreadable, not a PNG, corrupt), NNCL_ERROR_INVALID_ARGUMENT (sizes
 * that differ, no classes or images). */
NNCL_API nncl_status nncl_dataset_load_image_folder(const char *dir, nncl_dataset **out);
/* Replaces the dataset's labels by a map per sample over its spatial dims
 * (copied): a class per pixel [count, H, W] for segmentation, per voxel or
 * per signal step likewise; `shape` is one map's, e.g. [H, W]. The loader
 * then fills labels inputs of [batch, H, W] (nncl_input_labels_nd), moving
 * each map with its sample's flip and shift; positions shifted in from
 * outside get -100, the ignore index. Rotation is refused for such
 * datasets. NNCL_ERROR_SHAPE when the map does not match the samples. */
NNCL_API nncl_status nncl_dataset_set_label_maps(nncl_dataset *ds, const int32_t *maps,
                                                 nncl_shape shape);
/* The folder name of class `label` for an image-folder dataset, else NULL. */
NNCL_API const char *nncl_dataset_class_name(const nncl_dataset *ds, int32_t label);
NNCL_API void nncl_dataset_destroy(nncl_dataset *ds);
NNCL_API int64_t nncl_dataset_count(const nncl_dataset *ds);
/* The shape of one sample: [C, L], [C, H, W] or [C, D, H, W]. */
NNCL_API nncl_shape nncl_dataset_image_shape(const nncl_dataset *ds);
/* Sample i's bytes (8-bit datasets; NULL for float ones) and its label
 * (-1 for datasets with label maps); borrowed. */
NNCL_API const uint8_t *nncl_dataset_image(const nncl_dataset *ds, int64_t i);
NNCL_API int32_t nncl_dataset_label(const nncl_dataset *ds, int64_t i);
/* Sample i's float32 values (float datasets; NULL for 8-bit ones) and its
 * label map (datasets with label maps; else NULL); borrowed. */
NNCL_API const float *nncl_dataset_sample(const nncl_dataset *ds, int64_t i);
NNCL_API const int32_t *nncl_dataset_label_map(const nncl_dataset *ds, int64_t i);

typedef struct nncl_loader_options {
    int64_t batch; /* required: the graph's batch size */
    bool shuffle;  /* a new order every epoch, from seed and epoch */
    uint64_t seed;
    float mean, std; /* x = (value - mean) / std, 8-bit values scaled to [0, 1]; std 0: 1 */
    bool drop_last;  /* skip a final partial batch (else it is padded, see next) */
    /* Augmentation, each drawn per image from (seed, epoch, index): */
    bool hflip;           /* mirror the last dim (left-right) with probability 1/2 */
    int64_t shift;        /* random crop of every spatial dim after zero-padding by this */
    float rotate_degrees; /* rotate by up to +-this, bilinear, zero fill */
    float noise_std;      /* add N(0, noise_std^2) after normalising */
    /* Per-channel normalisation, x = (value - mean[c]) / std[c], instead of
     * mean and std: both arrays with one value per channel (RGB: three),
     * borrowed until the loader is destroyed. Values are 8-bit ones scaled
     * to [0, 1], or float samples as they are. */
    const float *channel_mean, *channel_std;
    /* At the end of an epoch go straight on with the next one, so that
     * nncl_loader_next never returns *valid == 0. */
    bool wrap_epochs;
    /* Data-parallel sharding: this loader is shard `shard` of `shards`
     * (rank and rank count; 0 shards: 1). Every shard draws the same
     * shuffled order; global batch b is that order's positions
     * [b * shards * batch, (b + 1) * shards * batch), and shard s takes its
     * s-th run of `batch`, so one epoch over all shards visits each sample
     * once, as one process with batch shards * batch would. A final partial
     * global batch is split evenly (shards differ by at most one real
     * sample, each padded as below); with fewer samples left than shards, or
     * drop_last, it is skipped. */
    int32_t shard, shards;
} nncl_loader_options;

/* The dataset must outlive the loader. */
NNCL_API nncl_status nncl_loader_create(const nncl_dataset *ds, const nncl_loader_options *options,
                                        nncl_loader **out);
NNCL_API void nncl_loader_destroy(nncl_loader *loader);
/* Batches in one epoch. */
NNCL_API int64_t nncl_loader_batches(const nncl_loader *loader);
/* The epoch the next batch belongs to (0 first). */
NNCL_API int64_t nncl_loader_epoch(const nncl_loader *loader);
/* Starts `epoch` from its first batch (to resume). */
NNCL_API nncl_status nncl_loader_seek(nncl_loader *loader, int64_t epoch, int64_t batch);

/* Copies the next batch into the graph's sample input ([batch, C, ...], the
 * dataset's sample shape) and labels input ([batch], or [batch, spatial...]
 * for label maps). *valid is the number of real samples: the batch size,
 * fewer in a final partial batch (padded with the epoch's first samples),
 * or 0 at the end of an epoch (never with wrap_epochs), when nothing is
 * copied and the next call starts the next epoch. The copy is queued; the
 * loader's buffer stays valid until it has happened. The sample input may
 * be an int32 one (nncl_input_labels_nd, e.g. token ids for an embedding):
 * the samples, prepared as usual, must then be whole numbers below 2^24.
 * Returns NNCL_OK, NNCL_ERROR_SHAPE (inputs of other shapes, both named),
 * NNCL_ERROR_INVALID_ARGUMENT (an id that is not whole, named by sample and
 * position) or the error of setting the inputs (a label out of a class
 * loss's range, named). */
NNCL_API nncl_status nncl_loader_next(nncl_loader *loader, nncl_graph *g, nncl_node *images,
                                      nncl_node *labels, int64_t *valid);

/* ---------------------------------------------------------------- parameters */

typedef struct nncl_param_info {
    const char *name; /* state_dict name, borrowed from the graph */
    nncl_shape shape;
    bool trainable; /* false for buffers such as running_mean */
    bool frozen;    /* see nncl_graph_freeze */
} nncl_param_info;

/* Parameters and buffers in creation order. */
NNCL_API size_t nncl_graph_param_count(const nncl_graph *g);
NNCL_API nncl_status nncl_graph_param_info(const nncl_graph *g, size_t index, nncl_param_info *out);

/* Total number of elements of trainable parameters (as PyTorch counts
 * sum(p.numel() for p in model.parameters())), frozen ones included, and
 * of those that are frozen (nncl_graph_freeze). */
NNCL_API int64_t nncl_graph_trainable_count(const nncl_graph *g);
NNCL_API int64_t nncl_graph_frozen_count(const nncl_graph *g);

/* Read or write a parameter / buffer by name, or read its gradient. `bytes`
 * must be its full size in float32. Return NNCL_ERROR_NOT_FOUND for an
 * unknown name, NNCL_ERROR_INVALID_ARGUMENT for a wrong size. */
NNCL_API nncl_status nncl_graph_param_read(nncl_graph *g, const char *name, float *dst,
                                           size_t bytes);
NNCL_API nncl_status nncl_graph_param_write(nncl_graph *g, const char *name, const float *src,
                                            size_t bytes);
NNCL_API nncl_status nncl_graph_grad_read(nncl_graph *g, const char *name, float *dst,
                                          size_t bytes);

/* ---------------------------------------------------------------- data-parallel training
 *
 * Several processes (ranks, started by mpirun) train one model, as
 * PyTorch's DistributedDataParallel does. Every rank builds the same graph
 * and optimizer on its own device and runs forward and backward on its own
 * slice of each global batch (a loader with `shard` and `shards`); after
 * each backward pass the gradients are summed over the ranks and divided
 * by their number, so every rank takes the same optimizer step and the
 * parameters stay bitwise equal everywhere. Gradients travel as the packed
 * gradient buffers cut into buckets of about bucket_mb: a bucket is reduced
 * (MPI_Allreduce) on a thread of its own as soon as the backward pass has
 * queued its last gradient, while the device works on the layers below it.
 * Batch norm keeps each rank's statistics (DDP's default) unless
 * sync_batch_norm asks for statistics over the global batch.
 *
 *   nncl_dist *d;
 *   nncl_dist_create(NULL, &d);                   // MPI_COMM_WORLD; MPI_Init if needed
 *   char device[64];
 *   nncl_dist_device(d, device, sizeof device);   // this rank's device
 *   ... nncl_context_create(&(nncl_context_options){.device = device}, &ctx), graph,
 *       optimizer ...
 *   nncl_dist_attach(d, g);                       // rank 0's parameters everywhere
 *   loader options: .shard = nncl_dist_rank(d), .shards = nncl_dist_size(d)
 *   ... nncl_loader_next, nncl_train_step as in one process ...
 *   nncl_dist_save(d, g, opt, "model.safetensors", NULL, 0);  // rank 0 writes
 *   nncl_dist_destroy(d);                         // MPI_Finalize if nncl_dist_create
 *                                                 // called MPI_Init
 *
 * Collectives wait at most timeout_s: a rank that stopped (an error, a
 * crash its launcher does not report) makes the others' calls fail with
 * NNCL_ERROR_COMMUNICATION instead of hanging. MPI cannot cancel a
 * collective, so after that error the program should end the job
 * (MPI_Abort) rather than go on. Available where nncl was built with MPI
 * (the CMake option NNCL_MPI, on where MPI is found); otherwise
 * nncl_dist_create returns NNCL_ERROR_STATE saying so. */

typedef struct nncl_dist nncl_dist;

typedef struct nncl_dist_options {
    /* The address of the MPI_Comm to train over (duplicated; the caller's
     * own traffic on it never mixes with nncl's). NULL: MPI_COMM_WORLD. */
    const void *comm;
    /* Batch norm in training mode normalises with the mean and variance of
     * the global batch (all ranks' samples), as torch.nn.SyncBatchNorm, and
     * its backward sums over ranks too: a collective per batch norm per
     * pass, which waits for the device. */
    bool sync_batch_norm;
    /* Reduce every gradient after the backward pass, in the calling thread,
     * instead of overlapping. Also what happens when MPI was initialised
     * without MPI_THREAD_MULTIPLE. */
    bool no_overlap;
    double bucket_mb; /* bucket size; 0: 2 MiB */
    double timeout_s; /* the longest wait on one collective; 0: 300 s */
} nncl_dist_options;

/* Joins the ranks of the communicator (MPI_Init_thread with
 * MPI_THREAD_MULTIPLE first, when the program has not initialised MPI).
 * options may be NULL. Returns NNCL_OK, NNCL_ERROR_COMMUNICATION (an MPI
 * failure, with MPI's message), NNCL_ERROR_OUT_OF_MEMORY, or
 * NNCL_ERROR_STATE in a library built without MPI. *out is NULL on
 * failure. */
NNCL_API nncl_status nncl_dist_create(const nncl_dist_options *options, nncl_dist **out);
/* Detaches from its graph, frees the communicators, and calls MPI_Finalize
 * when nncl_dist_create called MPI_Init. After an NNCL_ERROR_COMMUNICATION
 * it leaves MPI as it is (finalising would wait on the stopped rank). */
NNCL_API void nncl_dist_destroy(nncl_dist *d);
/* This process's rank and the number of ranks; the rank among those on the
 * same node (MPI_COMM_TYPE_SHARED), which picks its device. */
NNCL_API int32_t nncl_dist_rank(const nncl_dist *d);
NNCL_API int32_t nncl_dist_size(const nncl_dist *d);
NNCL_API int32_t nncl_dist_local_rank(const nncl_dist *d);

/* The device spec (for nncl_context_options.device) of this rank: with
 * NNCL_DEVICE a comma-separated list ("0:0,0:1"), entry local_rank modulo
 * its length; with a single NNCL_DEVICE, that device on every rank;
 * otherwise the node's GPUs round-robin by local rank ("P:D"), or "" (the
 * default device) where there is no GPU. Returns NNCL_OK or
 * NNCL_ERROR_INVALID_ARGUMENT (spec too small). */
NNCL_API nncl_status nncl_dist_device(const nncl_dist *d, char *spec, size_t size);

/* Makes g data-parallel: plans it, copies rank 0's parameters and buffers
 * (running statistics) to every rank, and from then on averages its
 * gradients over the ranks in every nncl_graph_backward (so also in
 * nncl_train_step). Every rank must attach a graph of the same parameters
 * (names, shapes and order are checked against rank 0's). One graph per
 * dist and one dist per graph; either may be destroyed first. Returns
 * NNCL_OK, NNCL_ERROR_INVALID_ARGUMENT (NULL, a second graph, a graph
 * another dist has, parameters that differ from rank 0's, named),
 * NNCL_ERROR_COMMUNICATION, or a planning error. */
NNCL_API nncl_status nncl_dist_attach(nncl_dist *d, nncl_graph *g);

/* Sums n doubles over the ranks in place (losses, correct counts): every
 * rank must call it with the same n. Returns NNCL_OK or
 * NNCL_ERROR_COMMUNICATION. */
NNCL_API nncl_status nncl_dist_sum(nncl_dist *d, double *values, size_t n);

/* nncl_save on rank 0 only (parameters and optimizer state are the same
 * on every rank; without synchronised batch norm the running statistics
 * saved are rank 0's); every rank returns rank 0's status, with its
 * message. Resuming is nncl_load on every rank, with the same or another
 * number of ranks. */
NNCL_API nncl_status nncl_dist_save(nncl_dist *d, nncl_graph *g, const nncl_optimizer *opt,
                                    const char *path, const nncl_metadata *metadata,
                                    size_t n_metadata);

/* What the gradient reduction cost so far on this rank. Returns NNCL_OK or
 * NNCL_ERROR_INVALID_ARGUMENT (NULL). */
typedef struct nncl_dist_stats {
    int64_t steps;   /* backward passes reduced */
    int64_t buckets; /* per pass */
    uint64_t bytes;  /* gradient bytes per pass */
    /* Total time inside the bucket allreduces, waiting for the slowest
     * rank to reach each one included. */
    double reduce_seconds;
    /* Total time from the device finishing a backward pass (its last
     * gradient copied out) to every mean being back: what the overlap did
     * not hide. */
    double wait_seconds;
} nncl_dist_stats;
NNCL_API nncl_status nncl_dist_stats_get(const nncl_dist *d, nncl_dist_stats *out);

/* ---------------------------------------------------------------- ONNX
 *
 * Models exported from PyTorch (torch.onnx.export) or any ONNX producer,
 * opsets up to 17 (each operator at a version nncl maps: most from opset 6
 * or 7 on), built into a graph that then runs and trains like one built
 * through this API. Operators: Conv, ConvTranspose (asymmetric pads,
 * auto_pad, output_padding, output_shape), MaxPool, AveragePool (pads,
 * auto_pad, strides, dilations, ceil_mode, count_include_pad),
 * GlobalAveragePool, GlobalMaxPool, BatchNormalization (its mode is the
 * graph's), InstanceNormalization, LayerNormalization (with Mean and
 * InvStdDev), LRN (odd sizes), Relu, LeakyRelu, PRelu, Elu, Selu, Sigmoid,
 * HardSigmoid, HardSwish, Tanh, Softplus, Clip, Erf, Softmax, LogSoftmax,
 * Gemm (transA/transB, alpha/beta; the linear form becomes nncl_linear),
 * MatMul, Add, Sub, Mul, Div, Pow, Sum, Max, Min, Mean (numpy
 * broadcasting; a constant operand becomes a parameter named after it,
 * frozen when it comes from a Constant), Sqrt, Exp, Log, Neg, Abs,
 * Reciprocal, Concat and Split (any axis), Slice (any steps), Flatten,
 * Reshape, Transpose, Squeeze, Unsqueeze, Pad (constant, reflect, edge;
 * negative pads crop), Gather (an embedding over int ids into a constant
 * table, or a take with constant indices), ReduceMean / ReduceSum /
 * ReduceMax / ReduceMin, ArgMax (axis 1, keepdims 0), OneHot (axis 1,
 * values 0 and 1), Dropout (it drops in training mode only, as the graph
 * is set), Identity, Upsample and Resize where they are PyTorch's interpolate (nearest: asymmetric,
 * floor, or half-pixel rounding with whole factors; linear: half_pixel,
 * pytorch_half_pixel or align_corners), SoftmaxCrossEntropyLoss and
 * NegativeLogLikelihoodLoss (class weights, ignore_index, reductions).
 * Shape, Constant and ConstantOfShape, nodes whose inputs are all
 * constants (the shape arithmetic around Reshape) and If nodes whose
 * condition is then constant fold at import. Outputs
 * nncl does not make (MaxPool's Indices, Dropout's mask, the statistics of
 * BatchNormalization in training_mode) are absent: a node reading one is
 * refused. */

/* A value for a graph input: its shape and float32 values (borrowed for
 * the call). */
typedef struct nncl_onnx_input_value {
    nncl_shape shape;
    const float *values;
} nncl_onnx_input_value;

typedef struct nncl_onnx_options {
    /* The size of input dims the file leaves symbolic or unknown (usually
     * the batch); 0: 1. */
    int64_t batch;
    /* Optional: values for the first n_input_values graph inputs (those
     * that are not initializers, in order). Each fixes its input's shape,
     * and operators that need a constant there (a weight, pads, a shape)
     * take the value, as when ONNX's test cases pass weights as inputs. */
    const nncl_onnx_input_value *input_values;
    size_t n_input_values;
} nncl_onnx_options;

/* What an import made: the graph inputs (those that are not initializers)
 * and outputs, in the file's order, and the model's opset. */
typedef struct nncl_onnx_model {
    size_t n_inputs, n_outputs;
    nncl_node **inputs, **outputs;
    int64_t opset;
} nncl_onnx_model;

/* Builds the ONNX model at path into g. Graph inputs become inputs named
 * as in the file: int32 ones (nncl_node_holds_ints) where a Gather or a
 * loss reads them as ids or labels, float ones otherwise. Each node's
 * output is a node named as its output value (nncl_graph_node finds it);
 * weights become parameters named as the file's initializers (PyTorch's
 * exporter keeps state_dict names), holding their values. *model (free
 * with nncl_onnx_model_free) lists inputs and outputs; options may be
 * NULL. Errors name the file and the node (by name, or by index, with its
 * op type) or value: NNCL_ERROR_IO (unreadable),
 * NNCL_ERROR_INVALID_ARGUMENT (not ONNX, truncated, an opset outside 1-17
 * or older than an operator's mapped version, an unsupported operator or
 * attribute value, a malformed graph), or a build error of the op (then g
 * keeps it, as for any builder); and NNCL_ERROR_STATE where the library
 * was built without protobuf-c. */
NNCL_API nncl_status nncl_onnx_import(nncl_graph *g, const char *path,
                                      const nncl_onnx_options *options, nncl_onnx_model **model);
NNCL_API void nncl_onnx_model_free(nncl_onnx_model *model);

/* Writes the part of g that computes outputs[0 .. n_outputs) as an ONNX
 * model (opset 17) at path, atomically: the inputs it reads become graph
 * inputs (float32, or int64 for ids and labels) at the graph's shapes,
 * the parameters initializers under their names with their current values
 * (batch norm with its running statistics), each op the ONNX operators
 * that compute it in inference (dropout as Identity); node values keep
 * their names, so nncl_onnx_import gives the graph back. A graph input
 * (nncl_input_graph) becomes two dense float inputs: "<name>", the
 * normalised adjacency [max_nodes, max_nodes], and "<name>/members"
 * [graphs, max_nodes], 1 where a node belongs to a graph. What ONNX
 * cannot say is refused by name: label smoothing, an embedding's
 * max_norm, an LRN of even size, adaptive pooling over cells of unequal
 * size. Returns NNCL_OK,
 * NNCL_ERROR_INVALID_ARGUMENT (no outputs, a node of another graph, an op
 * with no ONNX form, named), NNCL_ERROR_STATE (a build error; or a library
 * built without protobuf-c), NNCL_ERROR_IO or NNCL_ERROR_OUT_OF_MEMORY. */
NNCL_API nncl_status nncl_onnx_export(nncl_graph *g, const char *path, nncl_node *const *outputs,
                                      size_t n_outputs);

/* One tensor in its own TensorProto file, the layout of ONNX's test data
 * (input_0.pb, output_0.pb, ...). Reading converts any numeric type to
 * float32 into *values (free with nncl_free), a scalar given shape [1];
 * errors name the file: NNCL_ERROR_IO, NNCL_ERROR_INVALID_ARGUMENT (not a
 * TensorProto, a size that does not match its shape, more than 5 dims).
 * Writing stores float32 `values` of `shape` under `name` (may be NULL),
 * atomically. Both NNCL_ERROR_STATE without protobuf-c. */
NNCL_API nncl_status nncl_onnx_tensor_read(const char *path, nncl_shape *shape, float **values);
NNCL_API nncl_status nncl_onnx_tensor_write(const char *path, const char *name, nncl_shape shape,
                                            const float *values);

#ifdef __cplusplus
}
#endif

#endif /* NNCL_H */

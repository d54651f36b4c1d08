/* The graph layer: nodes and parameters, the op table's interface, the plan
 * (gradient marking, parameter packing, fusion, memory) and the executor
 * that walks it. It knows ops only through their table entries (struct
 * nncl_op_vtable): no file here names a particular op. */
#ifndef NNCL_GRAPH_H
#define NNCL_GRAPH_H

#include "../runtime/runtime.h"

/* An op kind: an index into the op table lib/ops/ defines (ops.def). */
typedef int32_t nncl_op_kind;

/* What an op's backward reads besides gradients: bit k for the value of
 * input k, NNCL_SAVES_OUTPUT for its own output. */
#define NNCL_SAVES_OUTPUT (1u << 31)
#define NNCL_SAVES_INPUT(k) (1u << (k))

/* An op's flags. */
#define NNCL_OPFLAG_INPUT 1u       /* its value is set by the user; it runs nothing */
#define NNCL_OPFLAG_ACTIVATION 2u  /* elementwise; a producer may apply it (absorbs) */
#define NNCL_OPFLAG_NO_GRADIENT 4u /* no gradient flows through it (argmax, accuracy) */
#define NNCL_OPFLAG_OWN_SETTER 8u  /* an input set by its own call, not nncl_graph_set_input */
#define NNCL_OPFLAG_TAKES_BIAS 16u /* normalises per channel: may add its input's bias (fuse.c) */

/* How a producer applies an activation fused into it. */
typedef enum nncl_fusion {
    NNCL_FUSION_NONE,          /* it cannot */
    NNCL_FUSION_AFTER_VALUE,   /* writes its own value, then the activation's */
    NNCL_FUSION_INSTEAD_VALUE, /* writes only the activation's value */
} nncl_fusion;

struct nncl_onnx_writer;

/* One op family's behaviour, in its lib/ops/ file. Variants of a family
 * share an entry and tell themselves apart by node->op. Only forward and
 * backward are required. */
typedef struct nncl_op_vtable {
    size_t attrs_size; /* bytes of node->attrs, zeroed at creation */
    uint32_t flags;    /* NNCL_OPFLAG_... */
    nncl_profile_kind profile_forward, profile_backward;
    /* Once per plan, after memory is placed: size scratch, check devices. */
    nncl_status (*plan)(nncl_graph *g, nncl_node *node);
    nncl_status (*forward)(nncl_graph *g, nncl_node *node);
    nncl_status (*backward)(nncl_graph *g, nncl_node *node);
    /* What backward reads (NNCL_SAVES_...); NULL: nothing. */
    uint32_t (*saves)(const nncl_node *node);
    /* Whether this producer can apply activation `act` in its last pass. */
    nncl_fusion (*absorbs)(const nncl_node *producer, const nncl_node *act);
    /* Its per-channel bias (parameter 1), which a batch norm consuming it
     * alone may add instead; NULL or false: none. */
    bool (*leaves_bias)(const nncl_node *node);
    /* Checks labels that input `k` of node carries before they are set. */
    nncl_status (*check_labels)(const nncl_node *node, int32_t k, const int32_t *labels,
                                int64_t count);
    /* A host counter checkpoints keep as "<node>.<suffix>" (int64). */
    int64_t *(*counter)(nncl_node *node, const char **suffix);
    /* Frees what the op allocated in node->attrs. */
    void (*release)(nncl_node *node);
    /* Multiply-adds of one forward pass at the node's shapes, for the
     * summary; NULL for ops that do no products (shown as "--"). */
    int64_t (*macs)(const nncl_node *node);
    /* Describes the node as ONNX nodes (onnx_writer.h); NULL: it has no
     * ONNX form. */
    nncl_status (*to_onnx)(struct nncl_onnx_writer *w, const nncl_node *node);
} nncl_op_vtable;

/* The op table (lib/ops/registry.c). */
const char *nncl_op_name(nncl_op_kind op);
const nncl_op_vtable *nncl_op_vtable_of(nncl_op_kind op);

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
    const nncl_op_vtable *vt; /* nncl_op_vtable_of(op) */
    char *name;
    nncl_shape shape;
    bool is_labels;     /* int32 data */
    bool requires_grad; /* a gradient flows into this node's output */
    bool wants_grad;    /* inputs only: the user asked for the gradient */
    bool value_set;     /* inputs only: a value was set */
    nncl_node **inputs;
    int32_t n_inputs;
    size_t first_param, n_params;
    void *attrs;                   /* the op's own attributes, vt->attrs_size bytes */
    size_t workspace_bytes;        /* scratch the op needs while it runs */
    bool keep;                     /* value and gradient stay readable (nncl_graph_keep) */
    nncl_node *fused_act;          /* the activation this node's forward also applies */
    nncl_node *fused_into;         /* activations: the node whose forward computes this one */
    nncl_node *bias_into;          /* its bias is added by this normalisation instead (fuse.c) */
    bool writes_value;             /* forward writes out (false when fused instead of it) */
    int32_t value_slot;            /* memory-plan slot of out, -1 when the node owns it */
    int32_t grad_slot;             /* memory-plan slot of grad, -1 when there is none */
    cl_mem out, grad;              /* borrowed from the plan's slots, except inputs' out */
    cl_mem aux[5];                 /* op state kept from forward for backward */
    bool *accumulate;              /* per input: add into its gradient (else overwrite) */
    nncl_launch_sites launches[3]; /* of forward in training, in eval, and of backward */
    bool in_backward;              /* on the path of the current backward pass */
    bool eval_only;                /* runs in eval mode whatever the graph's (set_layer_eval) */
    bool batch_major;              /* dim 0 is the batch (batch.c) */
    nncl_shape full_shape;         /* its shape at the batch the graph was built for */
    bool ran_training;             /* its last forward ran in training mode */
};

/* One block of device memory that values and gradients with disjoint
 * lifetimes share, and which of them wrote it last (memplan.c). */
typedef struct nncl_slot {
    cl_mem mem;
    size_t bytes;
    const nncl_node *owner;
    bool owner_is_grad;
} nncl_slot;

/* What a data-parallel graph does besides running (dist/, which installs
 * it; the graph calls these and looks no further). */
typedef struct nncl_collective {
    void *arg;
    /* The backward walk: begin once marked, node_done after each node's
     * launches are queued (index descending), end after the last: end
     * returns once every parameter gradient holds the ranks' mean. */
    nncl_status (*begin)(void *arg);
    nncl_status (*node_done)(void *arg, int32_t index);
    nncl_status (*end)(void *arg);
    /* Sums n doubles over the ranks in place: set when batch norm is
     * synchronised, NULL otherwise. */
    nncl_status (*sync_sum)(void *arg, double *values, size_t n);
} nncl_collective;

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
    bool planned; /* the plan matches the graph; cleared by what changes it */
    bool forward_done;
    uint64_t step;           /* training forward passes so far */
    uint64_t freeze_version; /* changes with every nncl_graph_freeze */
    uint64_t param_version;  /* changes whenever parameter values may have (kept transforms) */
    /* The batch (batch.c): nodes run at `batch` of the `full_batch` they
     * were built and planned for; batch_nodes nodes were analysed. */
    int64_t batch, full_batch;
    size_t batch_nodes;
    cl_mem workspace;
    size_t workspace_bytes;
    nncl_dependents users;             /* optimizers over this graph, its data-parallel state */
    const nncl_collective *collective; /* NULL unless data-parallel */
};

/* ---- building (graph.c, params.c) */

/* NNCL_OK, or an error for `call` when g is NULL, has a build error, or
 * lost its context (destroyed first). */
nncl_status nncl_graph_check(const nncl_graph *g, const char *call);

/* Each returns NULL (false) after recording an error. */
bool nncl_builder_ready(nncl_graph *g, const char *op, nncl_node *const *inputs, int32_t n);
nncl_node *nncl_node_add(nncl_graph *g, nncl_op_kind op, const char *name, nncl_node *const *inputs,
                         int32_t n_inputs, nncl_shape shape);
/* Records the graph's first error, prefixed with op and node, and returns NULL. */
nncl_node *nncl_build_fail(nncl_graph *g, nncl_status status, const char *op, const char *name,
                           const char *fmt, ...) NNCL_PRINTF(5, 6);
/* Whether a node or parameter `name` is layer `layer` or under it, as a
 * dot-separated prefix ("res.proj" covers "res.proj.weight", not
 * "res.proj_bn.weight"); a layer ending in '.' is a plain prefix. */
bool nncl_name_under(const char *name, const char *layer);
/* Whether node is a graph input (its value set by the user). */
bool nncl_node_is_input(const nncl_node *node);
/* Bytes of node's value: float32, or int32 labels. */
size_t nncl_node_bytes(const nncl_node *node);

/* How a new parameter is filled: an nncl_init rule with its fans, or a
 * constant. */
typedef struct nncl_fill {
    nncl_init init;
    float value;
    int64_t fan_in, fan_out;
} nncl_fill;
#define NNCL_FILL_CONSTANT(v) ((nncl_fill){.init = NNCL_INIT_CONSTANT, .value = (v)})
/* Adds a parameter (trainable) or buffer "<node>.<suffix>" ("<node>" when
 * suffix is NULL). */
bool nncl_param_add(nncl_graph *g, nncl_node *node, const char *suffix, nncl_shape shape,
                    bool trainable, nncl_fill fill);
/* A parameter that takes gradients: trainable and not frozen. */
bool nncl_param_learns(const nncl_param_entry *p);
nncl_param_entry *nncl_node_param(nncl_graph *g, const nncl_node *node, size_t i);

/* ---- the plan (plan.c, param_pack.c, fuse.c, memplan.c) */

/* Builds the plan when the graph changed since the last one. */
nncl_status nncl_plan_ensure(nncl_graph *g);

/* Moves trainable parameters not yet packed into a new pack; a no-op when
 * all are. Values and gradients are kept. */
nncl_status nncl_params_pack(nncl_graph *g);
/* Releases every parameter's device memory (names and shapes stay). */
void nncl_params_release(nncl_graph *g);
/* Floats p takes in a pack: its size rounded up to the device's sub-buffer
 * alignment, where the next parameter starts. */
size_t nncl_pack_span(const nncl_context *ctx, const nncl_param_entry *p);

/* Sets every node's requires_grad: a gradient flows into its output
 * (it has learning parameters, asked for one, or an input has one). */
void nncl_mark_gradients(nncl_graph *g);

/* An activation that is the only consumer of a producer that absorbs it is
 * computed in its producer's last pass. */
void nncl_fuse(nncl_graph *g);

/* Gives every non-input node's value, and its gradient where one flows, a
 * slot shared with buffers whose lifetimes in a forward + backward pass do
 * not overlap. */
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

/* ---- the batch (batch.c) */

/* Sets every batch-major node's dim 0 to batch (the graph analysed). */
void nncl_batch_apply(nncl_graph *g, int64_t batch);

/* ---- running (exec.c) */

/* nncl_graph_set_input, queued: with done set, returns at once and the
 * caller keeps `data` alive until the event completes. */
nncl_status nncl_graph_write_input(nncl_graph *g, nncl_node *input, const void *data, size_t bytes,
                                   cl_event *done);
/* Makes sure node->aux[slot] exists with `bytes` (zero-filled when new). */
nncl_status nncl_node_aux(nncl_graph *g, nncl_node *node, int slot, size_t bytes);
/* The numerical health check (numerics.c), when the context asks for it:
 * NNCL_ERROR_NUMERICS at the first non-finite value node's forward or
 * backward wrote, or an update wrote into a parameter. */
nncl_status nncl_numerics_forward(nncl_graph *g, const nncl_node *node);
nncl_status nncl_numerics_backward(nncl_graph *g, const nncl_node *node);
nncl_status nncl_numerics_update(nncl_graph *g);

/* Fails a running op with "op 'x' node 'y': ..." */
nncl_status nncl_node_fail(const nncl_node *node, nncl_status status, const char *fmt, ...)
    NNCL_PRINTF(3, 4);

#endif

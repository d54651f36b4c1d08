/* Inputs (float features and int32 labels) hold what the user set and do no
 * work of their own; their gradient, when asked for, is written by the
 * nodes that consume them. */
#include "../nncl_internal.h"

static nncl_status input_pass(nncl_graph *g, nncl_node *node) {
    (void)g;
    (void)node;
    return NNCL_OK;
}

const nncl_op_vtable nncl_op_input = {.forward = input_pass, .backward = input_pass};

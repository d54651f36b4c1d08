/* The op table: each op kind's name and its family's entry, generated from
 * ops.def, and the kinds as -D definitions for the kernels. */
#include "ops.h"

#include <stdio.h>

static const char *const op_names[] = {
#define NNCL_OP(kind, name, impl) name,
#include "ops.def"
#undef NNCL_OP
};

static const nncl_op_vtable *const op_vtables[] = {
#define NNCL_OP(kind, name, impl) &nncl_op_##impl,
#include "ops.def"
#undef NNCL_OP
};

static const char *const kernel_names[] = {
#define NNCL_OP(kind, name, impl) "NNCL_OP_" #kind,
#include "ops.def"
#undef NNCL_OP
};

const char *nncl_op_name(nncl_op_kind op) {
    return op >= 0 && op < NNCL_OP_COUNT ? op_names[op] : "?";
}

const nncl_op_vtable *nncl_op_vtable_of(nncl_op_kind op) {
    return op_vtables[op];
}

bool nncl_ops_kernel_defines(char *buf, size_t size) {
    size_t used = 0;
    for (int op = 0; op < NNCL_OP_COUNT; op++) {
        int n = snprintf(buf + used, size - used, " -D%s=%d", kernel_names[op], op);
        if (n < 0 || (size_t)n >= size - used) return false;
        used += (size_t)n;
    }
    return true;
}

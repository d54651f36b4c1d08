/* Status names and the per-thread message behind nncl_last_error. The
 * statuses themselves are one X-macro list in nncl.h, so names and values
 * cannot drift apart. */
#include "checked.h"
#include "runtime.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[4096];

const char *nncl_status_name(nncl_status status) {
    switch (status) {
#define NNCL_STATUS_NAME_(name, value)                                                             \
    case name:                                                                                     \
        return #name;
        NNCL_STATUS_LIST(NNCL_STATUS_NAME_)
#undef NNCL_STATUS_NAME_
    }
    return "NNCL_UNKNOWN_STATUS";
}

const char *nncl_last_error(void) {
    return last_error;
}

nncl_status nncl_fail_v(nncl_status status, const char *fmt, va_list ap) {
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    return status;
}

nncl_status nncl_fail(nncl_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    nncl_fail_v(status, fmt, ap);
    va_end(ap);
    return status;
}

const char *nncl_cl_error_name(cl_int err) {
    switch (err) {
#define CASE(e)                                                                                    \
    case e:                                                                                        \
        return #e;
        CASE(CL_DEVICE_NOT_FOUND)
        CASE(CL_DEVICE_NOT_AVAILABLE)
        CASE(CL_COMPILER_NOT_AVAILABLE)
        CASE(CL_MEM_OBJECT_ALLOCATION_FAILURE)
        CASE(CL_OUT_OF_RESOURCES)
        CASE(CL_OUT_OF_HOST_MEMORY)
        CASE(CL_PROFILING_INFO_NOT_AVAILABLE)
        CASE(CL_BUILD_PROGRAM_FAILURE)
        CASE(CL_INVALID_VALUE)
        CASE(CL_INVALID_DEVICE_TYPE)
        CASE(CL_INVALID_PLATFORM)
        CASE(CL_INVALID_DEVICE)
        CASE(CL_INVALID_CONTEXT)
        CASE(CL_INVALID_COMMAND_QUEUE)
        CASE(CL_INVALID_MEM_OBJECT)
        CASE(CL_INVALID_BINARY)
        CASE(CL_INVALID_BUILD_OPTIONS)
        CASE(CL_INVALID_PROGRAM)
        CASE(CL_INVALID_PROGRAM_EXECUTABLE)
        CASE(CL_INVALID_KERNEL_NAME)
        CASE(CL_INVALID_KERNEL)
        CASE(CL_INVALID_ARG_INDEX)
        CASE(CL_INVALID_ARG_VALUE)
        CASE(CL_INVALID_ARG_SIZE)
        CASE(CL_INVALID_KERNEL_ARGS)
        CASE(CL_INVALID_WORK_DIMENSION)
        CASE(CL_INVALID_WORK_GROUP_SIZE)
        CASE(CL_INVALID_WORK_ITEM_SIZE)
        CASE(CL_INVALID_GLOBAL_OFFSET)
        CASE(CL_INVALID_EVENT_WAIT_LIST)
        CASE(CL_INVALID_OPERATION)
        CASE(CL_INVALID_BUFFER_SIZE)
        CASE(CL_INVALID_GLOBAL_WORK_SIZE)
#undef CASE
    default:
        return "CL_UNKNOWN_ERROR";
    }
}

nncl_status nncl_fail_cl(cl_int err, const char *what) {
    return nncl_fail(NNCL_ERROR_OPENCL, "%s: %s (%d)", what, nncl_cl_error_name(err), (int)err);
}

const char *nncl_shape_str(nncl_shape shape, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int32_t i = 0; i < shape.rank && i < NNCL_MAX_RANK && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld",
                                 (long long)shape.dims[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

int64_t nncl_shape_numel(nncl_shape shape) {
    if (shape.rank < 1 || shape.rank > NNCL_MAX_RANK) return 0;
    int64_t n = 1;
    for (int32_t i = 0; i < shape.rank; i++)
        if (shape.dims[i] <= 0 || !nncl_mul_i64(n, shape.dims[i], &n)) return 0;
    return n;
}

int64_t nncl_shape_inner(nncl_shape s, int32_t from) {
    int64_t n = 1;
    for (int32_t i = from; i < s.rank; i++)
        n *= s.dims[i];
    return n;
}

bool nncl_shape_equal(nncl_shape a, nncl_shape b) {
    if (a.rank != b.rank || a.rank < 0 || a.rank > NNCL_MAX_RANK) return false;
    for (int32_t i = 0; i < a.rank; i++)
        if (a.dims[i] != b.dims[i]) return false;
    return true;
}

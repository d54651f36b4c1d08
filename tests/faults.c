/* The wrappers behind faults.h. Each counts the calls of its kind while
 * armed and fails the chosen one as the real call would when out of
 * memory or resources. */
#define CL_TARGET_OPENCL_VERSION 120
#include "faults.h"

#include <CL/cl.h>
#include <clblast_c.h>
#include <stdatomic.h>
#include <stddef.h>

static atomic_int armed_kind = -1;
static atomic_llong target, calls;
static atomic_bool fired;

void fault_arm(fault_kind kind, int64_t n) {
    calls = 0;
    fired = false;
    target = n;
    armed_kind = (int)kind;
}

bool fault_disarm(void) {
    armed_kind = -1;
    return fired;
}

int64_t fault_calls(void) {
    return calls;
}

/* Whether this call of `kind` is the one to fail. */
static bool fail_now(fault_kind kind) {
    if (armed_kind != (int)kind) return false;
    if (++calls != target) return false;
    fired = true;
    return true;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size) {
    return fail_now(FAULT_ALLOC) ? NULL : __real_malloc(size);
}
void *__wrap_calloc(size_t n, size_t size) {
    return fail_now(FAULT_ALLOC) ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t size) {
    return fail_now(FAULT_ALLOC) ? NULL : __real_realloc(p, size);
}

cl_mem __real_clCreateBuffer(cl_context c, cl_mem_flags f, size_t size, void *host, cl_int *err);
cl_mem __wrap_clCreateBuffer(cl_context c, cl_mem_flags f, size_t size, void *host, cl_int *err) {
    if (!fail_now(FAULT_BUFFER)) return __real_clCreateBuffer(c, f, size, host, err);
    if (err) *err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    return NULL;
}
cl_mem __real_clCreateSubBuffer(cl_mem m, cl_mem_flags f, cl_buffer_create_type t, const void *info,
                                cl_int *err);
cl_mem __wrap_clCreateSubBuffer(cl_mem m, cl_mem_flags f, cl_buffer_create_type t, const void *info,
                                cl_int *err) {
    if (!fail_now(FAULT_BUFFER)) return __real_clCreateSubBuffer(m, f, t, info, err);
    if (err) *err = CL_OUT_OF_RESOURCES;
    return NULL;
}

#define ENQUEUE_WRAPPER(name, params, args)                                                        \
    cl_int __real_##name params;                                                                   \
    cl_int __wrap_##name params {                                                                  \
        return fail_now(FAULT_ENQUEUE) ? CL_OUT_OF_RESOURCES : __real_##name args;                 \
    }
ENQUEUE_WRAPPER(clEnqueueNDRangeKernel,
                (cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *offset,
                 const size_t *global, const size_t *local, cl_uint n, const cl_event *wait,
                 cl_event *ev),
                (q, k, dims, offset, global, local, n, wait, ev))
ENQUEUE_WRAPPER(clEnqueueWriteBuffer,
                (cl_command_queue q, cl_mem m, cl_bool block, size_t off, size_t size,
                 const void *p, cl_uint n, const cl_event *wait, cl_event *ev),
                (q, m, block, off, size, p, n, wait, ev))
ENQUEUE_WRAPPER(clEnqueueReadBuffer,
                (cl_command_queue q, cl_mem m, cl_bool block, size_t off, size_t size, void *p,
                 cl_uint n, const cl_event *wait, cl_event *ev),
                (q, m, block, off, size, p, n, wait, ev))
ENQUEUE_WRAPPER(clEnqueueFillBuffer,
                (cl_command_queue q, cl_mem m, const void *pattern, size_t pattern_size, size_t off,
                 size_t size, cl_uint n, const cl_event *wait, cl_event *ev),
                (q, m, pattern, pattern_size, off, size, n, wait, ev))
ENQUEUE_WRAPPER(clEnqueueCopyBuffer,
                (cl_command_queue q, cl_mem src, cl_mem dst, size_t src_off, size_t dst_off,
                 size_t size, cl_uint n, const cl_event *wait, cl_event *ev),
                (q, src, dst, src_off, dst_off, size, n, wait, ev))

CLBlastStatusCode __real_CLBlastSgemm(const CLBlastLayout, const CLBlastTranspose,
                                      const CLBlastTranspose, const size_t, const size_t,
                                      const size_t, const float, const cl_mem, const size_t,
                                      const size_t, const cl_mem, const size_t, const size_t,
                                      const float, cl_mem, const size_t, const size_t,
                                      cl_command_queue *, cl_event *);
CLBlastStatusCode __wrap_CLBlastSgemm(const CLBlastLayout l, const CLBlastTranspose ta,
                                      const CLBlastTranspose tb, const size_t m, const size_t n,
                                      const size_t k, const float alpha, const cl_mem a,
                                      const size_t a_off, const size_t lda, const cl_mem b,
                                      const size_t b_off, const size_t ldb, const float beta,
                                      cl_mem c, const size_t c_off, const size_t ldc,
                                      cl_command_queue *q, cl_event *ev) {
    if (fail_now(FAULT_ENQUEUE)) return CLBlastOpenCLOutOfResources;
    return __real_CLBlastSgemm(l, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c,
                               c_off, ldc, q, ev);
}
CLBlastStatusCode __real_CLBlastSgemmWithTempBuffer(const CLBlastLayout, const CLBlastTranspose,
                                                    const CLBlastTranspose, const size_t,
                                                    const size_t, const size_t, const float,
                                                    const cl_mem, const size_t, const size_t,
                                                    const cl_mem, const size_t, const size_t,
                                                    const float, cl_mem, const size_t, const size_t,
                                                    cl_command_queue *, cl_event *, cl_mem);
CLBlastStatusCode __wrap_CLBlastSgemmWithTempBuffer(
    const CLBlastLayout l, const CLBlastTranspose ta, const CLBlastTranspose tb, const size_t m,
    const size_t n, const size_t k, const float alpha, const cl_mem a, const size_t a_off,
    const size_t lda, const cl_mem b, const size_t b_off, const size_t ldb, const float beta,
    cl_mem c, const size_t c_off, const size_t ldc, cl_command_queue *q, cl_event *ev,
    cl_mem temp) {
    if (fail_now(FAULT_ENQUEUE)) return CLBlastOpenCLOutOfResources;
    return __real_CLBlastSgemmWithTempBuffer(l, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off,
                                             ldb, beta, c, c_off, ldc, q, ev, temp);
}

/* Failure injection for test_faults, in the manner of SQLite's
 * out-of-memory tests: the test executable is linked with --wrap for the
 * library's host allocations, OpenCL buffer creations and enqueues and
 * CLBlast's GEMMs, and the n-th such call after fault_arm fails. */
#ifndef NNCL_TEST_FAULTS_H
#define NNCL_TEST_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum fault_kind {
    FAULT_ALLOC,  /* malloc, calloc, realloc */
    FAULT_BUFFER, /* clCreateBuffer, clCreateSubBuffer */
    FAULT_ENQUEUE /* clEnqueue*, CLBlastSgemm* */
} fault_kind;

/* From now the n-th call of that kind (1-based) fails; earlier and later
 * ones pass. */
void fault_arm(fault_kind kind, int64_t n);
/* Stops injecting; returns whether the armed failure happened. */
bool fault_disarm(void);
/* Calls of the armed kind since fault_arm. */
int64_t fault_calls(void);

#endif

/* Checked size arithmetic: every size computed from a file or an argument
 * goes through these, so a product past the type's range is an error
 * instead of a small wrapped number that later reads past a buffer. */
#ifndef NNCL_CHECKED_H
#define NNCL_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* *out = a * b (a + b); false, with *out unspecified, on overflow or when
 * an operand is negative. */
static inline bool nncl_mul_i64(int64_t a, int64_t b, int64_t *out) {
    return a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, out);
}
static inline bool nncl_add_i64(int64_t a, int64_t b, int64_t *out) {
    return a >= 0 && b >= 0 && !__builtin_add_overflow(a, b, out);
}
static inline bool nncl_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool nncl_add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
/* The product of n values, each >= 0, into *out; false on overflow. */
static inline bool nncl_product_i64(const int64_t *v, int n, int64_t *out) {
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        if (!nncl_mul_i64(p, v[i], &p)) return false;
    *out = p;
    return true;
}
/* An int64 count of elements of `elem` bytes as a size_t byte count. */
static inline bool nncl_bytes_of(int64_t count, size_t elem, size_t *out) {
    return count >= 0 && (uint64_t)count <= SIZE_MAX && nncl_mul_size((size_t)count, elem, out);
}

#endif

/* What the fuzz targets share: a private directory for the files the
 * parsers read (they take paths), the one context they run in, and
 * writing an input to a file, plainly or gzip-compressed. */
#ifndef NNCL_FUZZ_COMMON_H
#define NNCL_FUZZ_COMMON_H

#include <nncl.h>

#include <stddef.h>
#include <stdint.h>

/* "<private dir>/<name>", the directory made on first use. */
const char *fuzz_path(const char *name);
/* Writes bytes to path; with gzip set, gzip-compressed. Aborts the fuzzer
 * when the file cannot be written (an environment failure, not a finding). */
void fuzz_write(const char *path, const uint8_t *data, size_t size, int gzip);
/* The context every input runs in (NNCL_CACHE_DIR=off for speed). */
nncl_context *fuzz_context(void);

#endif

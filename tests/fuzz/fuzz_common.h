/* What the fuzz targets share: a private directory for the files the
 * parsers read (they take paths), the one context they run in, writing
 * an input to files, plainly or gzip-compressed, and a batch through the
 * loader. */
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

/* One shuffled, augmented batch of a small dataset (class labels or label
 * maps) through a graph of its sample shape: the loader behind a parser. */
void fuzz_one_batch(nncl_dataset *ds);
/* Splits an input at the bytes "LABELS" into a samples file and a labels
 * file (the second empty without them), written as samples_name and
 * labels_name under the private dir; gzip as for fuzz_write. */
void fuzz_write_pair(const uint8_t *data, size_t size, const char *samples_name,
                     const char *labels_name, int gzip, const char **samples_path,
                     const char **labels_path);

#endif

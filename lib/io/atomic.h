/* Writing a file so that a crash or a full disk leaves the old file or the
 * new one, never a mix: checkpoints and exported datasets. */
#ifndef NNCL_ATOMIC_H
#define NNCL_ATOMIC_H

#include "../runtime/runtime.h"

typedef struct nncl_chunk {
    const void *data;
    size_t bytes;
} nncl_chunk;

/* Writes the chunks one after another to a temporary "<path>.tmp.<pid>"
 * beside path, fsyncs it, renames it over path and fsyncs the directory;
 * first removes temporaries that killed processes left. Returns NNCL_OK or
 * NNCL_ERROR_IO naming the file and the reason (path is then untouched). */
nncl_status nncl_write_atomic(const char *path, const nncl_chunk *chunks, size_t n);

#endif

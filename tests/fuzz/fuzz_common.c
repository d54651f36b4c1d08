/* Helpers for the fuzz targets (fuzz_common.h). */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

const char *fuzz_path(const char *name) {
    static char dir[64];
    static char path[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/nncl-fuzz-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

void fuzz_write(const char *path, const uint8_t *data, size_t size, int gzip) {
    if (gzip) {
        gzFile f = gzopen(path, "wb1");
        if (!f || (size && gzwrite(f, data, (unsigned)size) != (int)size) || gzclose(f) != Z_OK)
            abort();
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
}

nncl_context *fuzz_context(void) {
    static nncl_context *ctx;
    if (!ctx && nncl_context_create(&(nncl_context_options){.cache_dir = "off"}, &ctx) != NNCL_OK)
        abort();
    return ctx;
}

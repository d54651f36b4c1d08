/* Fuzzes nncl-train's argument parser: the input is split at NUL bytes
 * into arguments (at most 64). Parsing must return 0, 2 or -1 and never
 * crash, whatever the flags and numbers. */
#include "../../tools/train_args.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static FILE *sink;
    if (!sink && !(sink = fopen("/dev/null", "w"))) abort();
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[66] = {"nncl-train"};
    int argc = 1;
    for (char *p = text; p < text + size && argc < 65; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    train_options o;
    int rc = train_parse_args(argc, argv, &o, sink);
    if (rc != 0 && rc != 2 && rc != -1) abort();
    free(text);
    return 0;
}

/* Fuzzes the safetensors reader through nncl_load: every input is a file
 * loaded strictly and non-strictly into a small graph (a conv, batch norm
 * with its I64 counter, a linear layer). Whatever the bytes, the load must
 * return a status, and a failed load must change nothing. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

static nncl_graph *graph(void) {
    static nncl_graph *g;
    if (g) return g;
    if (nncl_graph_create(fuzz_context(), &(nncl_graph_options){.seed = 1}, &g) != NNCL_OK) abort();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 1, 4, 4));
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 2, .kernel = {3, 3}, .padding = {1, 1}}, "conv");
    h = nncl_batch_norm(g, h, NULL, "bn");
    h = nncl_linear(g, nncl_flatten(g, h, NULL), 3, NULL, "fc");
    if (!h) abort();
    return g;
}

static void read_weights(nncl_graph *g, float *out) {
    if (nncl_graph_param_read(g, "conv.weight", out, 18 * sizeof(float)) != NNCL_OK ||
        nncl_graph_param_read(g, "fc.weight", out + 18, 96 * sizeof(float)) != NNCL_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nncl_graph *g = graph();
    const char *path = fuzz_path("input.safetensors");
    fuzz_write(path, data, size, 0);
    static float before[114], after[114];
    read_weights(g, before);
    char report[512];
    nncl_status strict = nncl_load(g, NULL, path, NULL);
    if (strict != NNCL_OK) {
        read_weights(g, after);
        if (memcmp(before, after, sizeof before)) abort(); /* "on error nothing changed" */
    }
    nncl_load(g, NULL, path,
              &(nncl_load_options){.non_strict = true, .report = report, .report_size = 512});
    return 0;
}

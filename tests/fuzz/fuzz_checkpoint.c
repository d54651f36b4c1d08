/* Fuzzes a checkpoint's metadata and optimizer state: nncl_checkpoint_metadata
 * for nncl's own keys, then nncl_load into a graph with an Adam optimizer,
 * which reads the optimizer kind, step counts and schedule position from
 * the metadata and the optimizer.* tensors. */
#include "fuzz_common.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static nncl_graph *g;
    static nncl_optimizer *opt;
    if (!g) {
        if (nncl_graph_create(fuzz_context(), NULL, &g) != NNCL_OK) abort();
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 4));
        if (!nncl_linear(g, x, 2, NULL, "fc") ||
            nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM}, &opt) !=
                NNCL_OK)
            abort();
    }
    const char *path = fuzz_path("checkpoint.safetensors");
    fuzz_write(path, data, size, 0);
    static const char *const keys[] = {"format",
                                       "nncl.seed",
                                       "nncl.step",
                                       "nncl.optimizer.kind",
                                       "nncl.optimizer.steps",
                                       "nncl.optimizer.schedule_position"};
    char value[64];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        nncl_checkpoint_metadata(path, keys[i], value, sizeof value);
    nncl_load(g, opt, path, NULL);
    return 0;
}

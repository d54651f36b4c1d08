/* The dataset's private structure and the per-image preparation the loader
 * applies (augment.c). */
#ifndef NNCL_DATA_H
#define NNCL_DATA_H

#include "../graph/graph.h"

struct nncl_dataset {
    int64_t count, channels, height, width;
    uint8_t *images; /* count * channels * height * width */
    int32_t *labels;
};

/* Writes one prepared image (C*H*W floats) from its bytes: scaled,
 * augmented with randomness from rng, normalised, noised. */
void nncl_prepare_image(const nncl_dataset *ds, const uint8_t *src, const nncl_loader_options *o,
                        uint64_t rng, float *dst);

#endif

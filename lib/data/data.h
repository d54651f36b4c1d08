/* The dataset's private structure and the per-sample preparation the
 * loader applies (augment.c). Samples are [C, spatial...] with one to
 * three spatial dims, held as 8-bit values or as float32. */
#ifndef NNCL_DATA_H
#define NNCL_DATA_H

#include "../graph/graph.h"

struct nncl_dataset {
    int64_t count, channels;
    int32_t spatial;     /* 1, 2 or 3 spatial dims */
    int64_t dims[3];     /* D, H, W; the unused leading ones are 1 */
    int64_t sample_size; /* channels * D * H * W values */
    uint8_t *images;     /* 8-bit samples (scaled by 1/255 when prepared), or NULL */
    float *samples;      /* float32 samples (taken as they are), or NULL */
    int32_t *labels;     /* one per sample, or a map per sample (label_maps) */
    bool label_maps;     /* labels are [count, D, H, W] maps over the spatial dims */
    char **class_names;  /* image folders: each label's folder name; else NULL */
    int64_t n_classes;
};

/* A dataset of `count` samples of `channels` x spatial dims (D, H, W with
 * unused leading ones 1), taking ownership of the buffers, which it frees
 * on failure (dataset.c). */
nncl_status nncl_dataset_wrap(int64_t count, int64_t channels, int32_t spatial,
                              const int64_t dims[3], uint8_t *images, float *samples,
                              int32_t *labels, nncl_dataset **out);

/* Label value of map positions an augmentation moved in from outside
 * (PyTorch's default ignore index, which the class losses skip). */
#define NNCL_LABEL_OUTSIDE (-100)

/* Writes sample `index`, prepared (C * D * H * W floats): scaled, augmented
 * with randomness from rng, normalised, noised; and its labels (one, or its
 * map moved with the same flip and shift). */
void nncl_prepare_sample(const nncl_dataset *ds, int64_t index, const nncl_loader_options *o,
                         uint64_t rng, float *dst, int32_t *labels);

#endif

/* nncl-train's data: the layout a --data directory holds (IDX files, NumPy
 * .npy arrays or image folders), its training and test sets, and what a
 * model takes from them (classes, vocabulary), checked against the model. */
#ifndef NNCL_TOOLS_TRAIN_DATA_H
#define NNCL_TOOLS_TRAIN_DATA_H

#include "models.h"

#include <nncl.h>

typedef struct train_data {
    nncl_dataset *train, *test;
    const char *layout; /* "IDX", ".npy" or "image folders" */
} train_data;

/* Loads dir's training and test sets. Returns 0, or 1 after printing why
 * to stderr. */
int train_data_load(const char *dir, train_data *d);

/* The classes (`classes`, or when 0 the largest label + 1) and, for
 * token-id models, the vocabulary (largest id + 1) in d, after checking
 * that m takes such samples and labels. Returns 0, or 1 after printing
 * why to stderr. */
int train_data_dims(const train_data *d, const model_info *m, int64_t classes, model_dims *out);

void train_data_release(train_data *d);

#endif

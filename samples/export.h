/* Writing a sample's generated data as nncl-train reads it: NumPy arrays
 * DIR/<set>_x.npy and DIR/<set>_y.npy (set: "train" or "test"). */
#ifndef NNCL_SAMPLES_EXPORT_H
#define NNCL_SAMPLES_EXPORT_H

#include <nncl.h>

/* count samples of `sample` shape (float32) and their labels: one each, or
 * with maps a label map over the spatial dims each. Creates dir (and its
 * parents) if needed.
 * Returns 0, or 1 after printing why to stderr. */
int export_arrays(const char *dir, const char *set, const float *x, const int32_t *labels,
                  int64_t count, nncl_shape sample, bool maps);

/* Generated data: batches[0] training and batches[1] test batches of
 * `batch` samples from make (which fills x and labels and advances rng),
 * exported to dir as above. Returns 0, or 1 after printing why. */
typedef void (*export_maker)(float *x, int32_t *labels, unsigned *rng);
int export_generated(const char *dir, int batch, const int batches[2], nncl_shape sample, bool maps,
                     export_maker make);

#endif

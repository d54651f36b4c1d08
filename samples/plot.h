/* Pictures the samples write as PNG files (with cairo). Both return 0 on
 * success. */
#ifndef NNCL_SAMPLES_PLOT_H
#define NNCL_SAMPLES_PLOT_H

#include <stdbool.h>

/* Loss per epoch on the left; training and test accuracy on the right. */
int plot_training(const char *path, const double *loss, const double *train_acc,
                  const double *test_acc, int epochs);

/* Two accuracy curves per epoch on one panel, for comparing two runs. */
int plot_comparison(const char *path, const char *title, const double *a, const char *a_name,
                    const double *b, const char *b_name, int epochs);

/* count filters of channels x kh x kw weights (PyTorch's conv weight layout)
 * as a grid of coloured tiles: blue negative, white zero, red positive. */
int plot_filters(const char *path, const float *weights, int count, int channels, int kh, int kw);

/* Segmentation results, one row per image: the input (grey, scaled to its
 * own range), the predicted and the true class of every pixel in colour.
 * images: count x h x w floats; predicted, truth: count x h x w classes. */
int plot_segmentation(const char *path, const float *images, const int *predicted, const int *truth,
                      int count, int h, int w);

/* count signals of len samples, one row each under its caption, each
 * scaled to its own range. */
int plot_signals(const char *path, const float *x, int count, int len, const char *const *captions);

/* count grey images (h x w floats each, all on one grey scale) in a grid
 * of cols columns, each under its caption (captions may be NULL). */
int plot_images(const char *path, const float *images, int count, int cols, int h, int w,
                const char *const *captions);

/* count colour images (3 x h x w floats each: planes R, G, B in 0..1,
 * clamped) in a grid of cols columns, each under its caption. */
int plot_rgb_images(const char *path, const float *images, int count, int cols, int h, int w,
                    const char *const *captions);

#endif

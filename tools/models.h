/* Built-in models for the command-line tools: each builds its layers on a
 * sample input (images, signals, volumes, or token ids) and returns the
 * logits node: [N, classes], or [N, classes, spatial...] for dense models
 * that classify every position (segmentation). */
#ifndef NNCL_TOOLS_MODELS_H
#define NNCL_TOOLS_MODELS_H

#include <nncl.h>

/* What a model takes from its data. */
typedef struct model_dims {
    int64_t classes;
    int64_t vocab; /* token-id models: ids are below this */
} model_dims;

typedef struct model_info {
    const char *name;
    const char *alias; /* another name it answers to, or NULL */
    const char *summary;
    nncl_shape input; /* the benchmark's sample: [C, L], [C, H, W] or [C, D, H, W] */
    model_dims dims;  /* the benchmark's classes (and vocabulary) */
    bool dense;       /* a class per position: labels are maps over the spatial dims */
    bool ids;         /* the input holds int32 token ids, not values */
    nncl_node *(*build)(nncl_graph *g, nncl_node *x, const model_dims *d);
} model_info;

/* The inputs for a batch of `sample`-shaped samples (x: values or ids; y:
 * labels, or label maps for dense models) and the model on them; returns
 * the logits (check nncl_graph_status). */
nncl_node *model_graph(nncl_graph *g, const model_info *m, int64_t batch, nncl_shape sample,
                       const model_dims *d, nncl_node **x, nncl_node **y);

/* The model called name (or alias), or NULL. */
const model_info *model_find(const char *name);
/* The i-th built-in model, NULL past the last. */
const model_info *model_at(size_t i);
/* "fashion_cnn, ..." for usage messages. */
const char *model_names(void);

#endif

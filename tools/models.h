/* Built-in models for the command-line tools: each builds its layers on an
 * image input and returns the logits node. */
#ifndef NNCL_TOOLS_MODELS_H
#define NNCL_TOOLS_MODELS_H

#include <nncl.h>

typedef struct model_info {
    const char *name;
    const char *summary;
    nncl_shape input; /* one sample: [C, L], [C, H, W] or [C, D, H, W] */
    int64_t classes;
    nncl_node *(*build)(nncl_graph *g, nncl_node *images);
} model_info;

/* The model called name, or NULL. */
const model_info *model_find(const char *name);
/* The i-th built-in model, NULL past the last. */
const model_info *model_at(size_t i);
/* "fashion_cnn, ..." for usage messages. */
const char *model_names(void);

#endif

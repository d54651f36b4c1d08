/* An ONNX file as the tools' model (nncl-train --model FILE.onnx,
 * nncl-bench --model FILE.onnx): imported at the run's batch, its one input
 * the samples and its one output the logits, [N, classes] or
 * [N, classes, positions...]; for transfer learning, its last linear layer
 * swapped for a fresh one with another number of classes. */
#ifndef NNCL_TOOLS_ONNX_MODEL_H
#define NNCL_TOOLS_ONNX_MODEL_H

#include "models.h"

#include <stdio.h>

typedef struct onnx_model {
    model_info info; /* name: the file; input: its sample shape; dense, ids */
    nncl_node *x, *logits;
    int64_t classes; /* the logits' dim 1 */
} onnx_model;

/* Whether `model` names an ONNX file rather than a built-in model. */
bool onnx_model_named(const char *model);

/* Imports path into g at `batch` and fills m. replace_head > 0: the last
 * linear layer before the output (the first one walking back from it) is
 * replaced by "new_head", a fresh linear layer with replace_head outputs,
 * which becomes the logits. Returns 0, or 1 after printing why to err
 * (prefixed with `tool`). */
int onnx_model_import(nncl_graph *g, const char *path, int64_t batch, int64_t replace_head,
                      onnx_model *m, const char *tool, FILE *err);

#endif

/* An ONNX model file read and checked before anything is built from it:
 * protobuf-c decodes the message (onnx.proto), then every fact the
 * importer relies on is verified here, so that a malformed or hostile file
 * is an error naming what is wrong and never reaches the graph builder. */
#ifndef NNCL_ONNX_FILE_H
#define NNCL_ONNX_FILE_H

#include "../runtime/runtime.h"
#include "onnx.pb-c.h"

/* The opsets whose operators nncl maps. */
enum { NNCL_ONNX_MIN_OPSET = 1, NNCL_ONNX_MAX_OPSET = 17 };

typedef struct nncl_onnx_file {
    NnclOnnx__ModelProto *model;
    const NnclOnnx__GraphProto *graph; /* model->graph */
    int64_t opset;                     /* of the default domain */
} nncl_onnx_file;

/* Reads path and checks: a decodable ModelProto with a graph; a default-
 * domain opset between NNCL_ONNX_MIN_OPSET and NNCL_ONNX_MAX_OPSET; nodes
 * with an op type, in topological order (each input a graph input, an
 * initializer or an earlier node's output; so no cycles), every value
 * produced once; subgraphs (If's branches, nested at most 8 deep) the
 * same, seeing the names defined before their node; initializers named, of supported types, with
 * data of exactly their size, not external. Errors name the file and the node, tensor or value:
 * NNCL_ERROR_IO (unreadable) or NNCL_ERROR_INVALID_ARGUMENT. */
nncl_status nncl_onnx_read(const char *path, nncl_onnx_file *out);
/* The same for a model already in memory (the fuzz target's entry). */
nncl_status nncl_onnx_parse(const uint8_t *bytes, size_t size, const char *name,
                            nncl_onnx_file *out);
void nncl_onnx_close(nncl_onnx_file *f);

/* How many names the graph and its subgraphs define or list (checked
 * graphs only: nesting is bounded). */
size_t nncl_onnx_value_count(const NnclOnnx__GraphProto *g);

/* The hash the reader's and the importer's name tables use (FNV-1a). */
uint64_t nncl_onnx_name_hash(const char *s);

/* Checks one tensor as the reader does (type, size, data length, not
 * external); `where` says where it was found, for the message. */
nncl_status nncl_onnx_check_tensor(const char *file, const char *where,
                                   const NnclOnnx__TensorProto *t);

/* A checked tensor's elements as float32 (float, double, and the integer
 * types, converted) into a new array of *count values; the caller frees it.
 * NNCL_ERROR_OUT_OF_MEMORY or NNCL_ERROR_INVALID_ARGUMENT (a type without a
 * float meaning, e.g. strings). */
nncl_status nncl_onnx_tensor_floats(const NnclOnnx__TensorProto *t, float **values, int64_t *count);
/* Its elements as int64 (integer types; floats must be whole). */
nncl_status nncl_onnx_tensor_ints(const NnclOnnx__TensorProto *t, int64_t **values, int64_t *count);

#endif

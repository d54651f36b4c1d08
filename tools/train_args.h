/* nncl-train's command line: the options a run takes, their parsing and
 * checking (every number finite and in range, counts whole), and the usage
 * text. Apart from the program so that the parser can be fuzzed. */
#ifndef NNCL_TRAIN_ARGS_H
#define NNCL_TRAIN_ARGS_H

#include <nncl.h>

#include <stdio.h>

typedef struct train_options {
    const char *data, *model, *device, *save, *resume, *log_json;
    const char *export_path; /* --export: the trained model as ONNX */
    const char *freeze[8];   /* --freeze: parameter prefixes kept fixed */
    int n_freeze;
    int64_t replace_head; /* --replace-head: a fresh last linear layer (ONNX models) */
    int64_t epochs, steps, batch;
    int64_t classes; /* 0: from the data */
    float smoothing;
    bool check_numerics, deterministic;
    /* Data-parallel runs (under mpirun): synchronised batch norm, the
     * gradient bucket size, the longest wait on another rank. */
    bool sync_bn;
    double bucket_mb, dist_timeout;
    bool normalise; /* --mean or --std given */
    nncl_optim_params optim;
    nncl_schedule schedule;
    nncl_loader_options loader;
} train_options;

/* Fills o from argv. Returns 0, 2 after printing what is wrong to err, or
 * -1 for --help (print train_usage to stdout). Strings in o point into
 * argv. */
int train_parse_args(int argc, char **argv, train_options *o, FILE *err);
void train_usage(FILE *f);

#endif

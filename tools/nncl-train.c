/* nncl-train: trains a built-in model or an ONNX file (fine-tuning, with
 * frozen layers and a new head) from the command line on a dataset
 * directory (IDX, NumPy arrays or image folders): classifiers, and dense
 * models scored per position (pixel accuracy, mean IoU); optimizer,
 * schedule, augmentation, checkpoints with exact resume, a progress bar on
 * a terminal and one line (and optionally one JSON object) per epoch.
 * Under mpirun it trains data-parallel: every process a shard of each
 * global batch, rank 0 printing and saving. */
#define _POSIX_C_SOURCE 200809L
#include "models.h"
#include "onnx_model.h"
#include "progress.h"
#include "train_args.h"
#include "train_data.h"

#include <nncl.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run {
    nncl_dist *dist; /* under mpirun, else NULL */
    int rank, ranks;
    nncl_context *ctx;
    nncl_graph *g;
    nncl_node *x, *y, *logits, *loss;
    nncl_optimizer *opt;
    train_data data;
    nncl_loader *train_loader, *test_loader;
    const model_info *model;
    onnx_model onnx; /* --model FILE.onnx */
    model_dims dims;
    int64_t positions; /* labelled positions per sample: 1, or the map's size */
    float *logits_host;
    int32_t *labels_host;
} run;

/* Tallies of predictions against labels; per class for dense models
 * (intersection and union for the IoU). */
typedef struct tally {
    int64_t right, seen;
    int64_t *hit, *either; /* classes entries, or NULL */
} tally;

/* Adds the first `valid` samples of the batch read back into r's buffers:
 * the argmax over classes at each labelled position (label >= 0). */
static void count(const run *r, int64_t valid, tally *t) {
    int64_t classes = r->dims.classes, P = r->positions;
    for (int64_t n = 0; n < valid; n++)
        for (int64_t p = 0; p < P; p++) {
            int32_t label = r->labels_host[n * P + p];
            if (label < 0) continue;
            const float *scores = r->logits_host + n * classes * P + p;
            int64_t best = 0;
            for (int64_t c = 1; c < classes; c++)
                if (scores[c * P] > scores[best * P]) best = c;
            t->right += best == label;
            t->seen++;
            if (!t->hit) continue;
            t->hit[label] += best == label;
            t->either[label]++;
            t->either[best] += best != label;
        }
}

/* Mean IoU over the classes that occur in the labels or the predictions. */
static double mean_iou(const tally *t, int64_t classes) {
    double sum = 0;
    int64_t present = 0;
    for (int64_t c = 0; c < classes; c++)
        if (t->either[c]) sum += (double)t->hit[c] / (double)t->either[c], present++;
    return present ? sum / (double)present : 0;
}

static int rank_of_failure = -1; /* data-parallel: this process's rank in messages */

static int fail(const char *what) {
    if (rank_of_failure >= 0)
        fprintf(stderr, "nncl-train (rank %d): %s: %s\n", rank_of_failure, what, nncl_last_error());
    else
        fprintf(stderr, "nncl-train: %s: %s\n", what, nncl_last_error());
    return 1;
}

/* A device and an empty graph. */
static int open_graph(run *r, const train_options *o) {
    char spec[256] = "";
    if (r->dist && !o->device && nncl_dist_device(r->dist, spec, sizeof spec) != NNCL_OK)
        return fail("device");
    nncl_context_options co = {.device = o->device ? o->device
                                         : *spec   ? spec
                                                   : NULL,
                               .check_numerics = o->check_numerics,
                               .deterministic = o->deterministic};
    if (nncl_context_create(&co, &r->ctx) != NNCL_OK) return fail("device");
    if (nncl_graph_create(r->ctx, &(nncl_graph_options){.seed = o->loader.seed}, &r->g) != NNCL_OK)
        return fail("graph");
    return 0;
}

/* An ONNX model on the data: its sample shape must be the data's, and its
 * classes cover the labels (or --replace-head gives it the data's). */
static int setup_onnx(run *r, const train_options *o, nncl_shape sample) {
    if (open_graph(r, o) || onnx_model_import(r->g, o->model, o->batch, o->replace_head, &r->onnx,
                                              "nncl-train", stderr))
        return 1;
    r->model = &r->onnx.info;
    if (train_data_dims(&r->data, r->model, o->classes, &r->dims)) return 1;
    for (int32_t d = 0; d < sample.rank; d++)
        if (sample.dims[d] != r->model->input.dims[d]) {
            fprintf(stderr, "nncl-train: %s takes samples of dim %d = %lld; the data's are %lld\n",
                    o->model, (int)d, (long long)r->model->input.dims[d],
                    (long long)sample.dims[d]);
            return 1;
        }
    if (r->dims.classes > r->onnx.classes) {
        fprintf(stderr,
                "nncl-train: %s outputs %lld classes; the data has %lld (--replace-head %lld "
                "gives it a new last layer)\n",
                o->model, (long long)r->onnx.classes, (long long)r->dims.classes,
                (long long)r->dims.classes);
        return 1;
    }
    r->dims.classes = r->onnx.classes;
    nncl_shape labels = {.rank = r->model->dense ? sample.rank : 1, .dims = {o->batch}};
    for (int32_t i = 1; r->model->dense && i < sample.rank; i++)
        labels.dims[i] = sample.dims[i];
    r->x = r->onnx.x;
    r->y = nncl_input_labels_nd(r->g, "label", labels);
    r->logits = r->onnx.logits;
    return 0;
}

static int setup_builtin(run *r, const train_options *o, nncl_shape sample) {
    r->model = model_find(o->model);
    if (!r->model) {
        fprintf(stderr, "nncl-train: unknown model '%s' (built in: %s; or a FILE.onnx)\n", o->model,
                model_names());
        return 2;
    }
    if (o->replace_head) {
        fprintf(stderr, "nncl-train: --replace-head applies to ONNX models (--model FILE.onnx)\n");
        return 2;
    }
    if (train_data_dims(&r->data, r->model, o->classes, &r->dims) || open_graph(r, o)) return 1;
    r->logits = model_graph(r->g, r->model, o->batch, sample, &r->dims, &r->x, &r->y);
    return 0;
}

static int setup(run *r, const train_options *o) {
    if (train_data_load(o->data, &r->data)) return 1;
    nncl_shape s = nncl_dataset_image_shape(r->data.train);
    int rc = onnx_model_named(o->model) ? setup_onnx(r, o, s) : setup_builtin(r, o, s);
    if (rc) return rc;
    r->positions = r->model->dense ? nncl_shape_numel(s) / s.dims[0] : 1;
    r->loss = nncl_cross_entropy(r->g, r->logits, r->y,
                                 &(nncl_loss_params){.label_smoothing = o->smoothing}, "loss");
    if (nncl_graph_status(r->g) != NNCL_OK) {
        fprintf(stderr, "nncl-train: %s\n", nncl_graph_error(r->g));
        return 1;
    }
    for (int k = 0; k < o->n_freeze; k++)
        if (nncl_graph_freeze(r->g, o->freeze[k], true) != NNCL_OK) return fail("--freeze");
    nncl_graph_keep(r->g, r->logits); /* read after each step for the running accuracy */
    nncl_loader_options train = o->loader;
    train.shard = r->rank;
    train.shards = r->ranks;
    if (!o->normalise && !strcmp(r->data.layout, "IDX"))
        train.mean = 0.2860f, train.std = 0.3530f; /* Fashion-MNIST's pixel mean and std */
    if (nncl_optimizer_create(r->g, &o->optim, &r->opt) != NNCL_OK) return fail("optimizer");
    if (r->dist && nncl_dist_attach(r->dist, r->g) != NNCL_OK) return fail("data-parallel setup");
    if (nncl_optimizer_set_schedule(r->opt, &o->schedule) != NNCL_OK) return fail("schedule");
    if (nncl_loader_create(r->data.train, &train, &r->train_loader) != NNCL_OK)
        return fail("training loader");
    nncl_loader_options eval = {.batch = o->batch,
                                .mean = train.mean,
                                .std = train.std,
                                .shard = r->rank,
                                .shards = r->ranks};
    if (nncl_loader_create(r->data.test, &eval, &r->test_loader) != NNCL_OK)
        return fail("test loader");
    r->logits_host = malloc((size_t)(o->batch * r->dims.classes * r->positions) * sizeof(float));
    r->labels_host = malloc((size_t)(o->batch * r->positions) * sizeof(int32_t));
    return r->logits_host && r->labels_host ? 0 : 1;
}

/* The logits and labels of the batch just run, read back. */
static nncl_status read_batch(run *r, int64_t batch) {
    size_t logits = (size_t)(batch * r->dims.classes * r->positions) * sizeof(float);
    nncl_status st = nncl_graph_read(r->g, r->logits, r->logits_host, logits);
    return st != NNCL_OK ? st
                         : nncl_graph_read_labels(r->g, r->y, r->labels_host,
                                                  (size_t)(batch * r->positions) * sizeof(int32_t));
}

/* Data-parallel: every rank's counts added up (each counted its shard). */
static nncl_status sum_tally(run *r, tally *t, int64_t classes) {
    size_t n = 2 + (t->hit ? 2 * (size_t)classes : 0);
    double *v = malloc(n * sizeof *v);
    if (!v) return NNCL_ERROR_OUT_OF_MEMORY;
    v[0] = (double)t->right;
    v[1] = (double)t->seen;
    for (size_t c = 0; t->hit && c < (size_t)classes; c++) {
        v[2 + c] = (double)t->hit[c];
        v[2 + classes + c] = (double)t->either[c];
    }
    nncl_status st = nncl_dist_sum(r->dist, v, n);
    t->right = (int64_t)v[0];
    t->seen = (int64_t)v[1];
    for (size_t c = 0; t->hit && c < (size_t)classes; c++) {
        t->hit[c] = (int64_t)v[2 + c];
        t->either[c] = (int64_t)v[2 + classes + c];
    }
    free(v);
    return st;
}

/* Test accuracy (per labelled position for dense models, whose mean IoU
 * goes to *miou); -1 on failure. */
static double evaluate(run *r, const train_options *o, double *miou) {
    int64_t valid, classes = r->dims.classes;
    int64_t *per_class = r->model->dense ? calloc((size_t)(2 * classes), sizeof(int64_t)) : NULL;
    tally t = {.hit = per_class, .either = per_class ? per_class + classes : NULL};
    nncl_loader_seek(r->test_loader, 0, 0);
    nncl_graph_set_training(r->g, false);
    nncl_status st;
    while ((st = nncl_loader_next(r->test_loader, r->g, r->x, r->y, &valid)) == NNCL_OK && valid) {
        if ((st = nncl_graph_forward(r->g)) != NNCL_OK || (st = read_batch(r, o->batch)) != NNCL_OK)
            break;
        count(r, valid, &t);
    }
    nncl_graph_set_training(r->g, true);
    if (st == NNCL_OK && r->dist) st = sum_tally(r, &t, classes);
    *miou = per_class ? mean_iou(&t, classes) : 0;
    free(per_class);
    if (st != NNCL_OK || !t.seen) return -1;
    return (double)t.right / (double)t.seen;
}

/* The position is kept in batches and in samples of the epoch, so that a
 * run with another number of processes (another global batch) resumes. */
static int save(run *r, const train_options *o, int64_t epoch, int64_t batch) {
    char e[32], b[32], n[32];
    snprintf(e, sizeof e, "%" PRId64, epoch);
    snprintf(b, sizeof b, "%" PRId64, batch);
    snprintf(n, sizeof n, "%" PRId64, batch * o->batch * r->ranks);
    nncl_metadata meta[] = {{"nncl_train.model", o->model},
                            {"nncl_train.epoch", e},
                            {"nncl_train.batch", b},
                            {"nncl_train.samples", n}};
    nncl_status st = r->dist ? nncl_dist_save(r->dist, r->g, r->opt, o->save, meta, 4)
                             : nncl_save(r->g, r->opt, o->save, meta, 4);
    return st == NNCL_OK ? 0 : fail("saving");
}

/* Where a checkpoint left the epoch, in this run's batches. */
static int64_t resume_batch(run *r, const train_options *o) {
    char v[64];
    int64_t global = o->batch * r->ranks;
    if (nncl_checkpoint_metadata(o->resume, "nncl_train.samples", v, sizeof v) == NNCL_OK) {
        int64_t samples = strtoll(v, NULL, 10);
        if (samples % global)
            printf("The checkpoint is %lld samples into its epoch; with a global batch of %lld "
                   "this run repeats the last %lld of them\n",
                   (long long)samples, (long long)global, (long long)(samples % global));
        return samples / global;
    }
    if (nncl_checkpoint_metadata(o->resume, "nncl_train.batch", v, sizeof v) == NNCL_OK)
        return strtoll(v, NULL, 10);
    return 0;
}

static void release(run *r) {
    free(r->logits_host);
    free(r->labels_host);
    nncl_loader_destroy(r->train_loader);
    nncl_loader_destroy(r->test_loader);
    nncl_optimizer_destroy(r->opt);
    nncl_graph_destroy(r->g);
    nncl_context_destroy(r->ctx);
    train_data_release(&r->data);
}

/* What the gradient averaging cost per step, and how much of it the
 * backward pass hid: the share of the step spent computing is the
 * efficiency against each process training alone at its own speed. */
static void report_dist(run *r, int64_t images, double seconds) {
    nncl_dist_stats s;
    if (nncl_dist_stats_get(r->dist, &s) != NNCL_OK || !s.steps || seconds <= 0) return;
    double steps = (double)s.steps, step_ms = 1e3 * seconds / steps;
    double wait_ms = 1e3 * s.wait_seconds / steps;
    printf("Data-parallel: %d processes, %.0f img/s over all of them, %.1f ms per step; "
           "gradients %.1f MiB in %lld buckets, allreduce %.1f ms per step, %.1f ms of it not "
           "hidden by backward: scaling efficiency %.0f%% of the step computing\n",
           r->ranks, (double)images / seconds, step_ms, (double)s.bytes / 1048576.0,
           (long long)s.buckets, 1e3 * s.reduce_seconds / steps, wait_ms,
           100.0 * (1.0 - wait_ms / step_ms));
}

/* The epochs; returns the exit status. */
static int train(run *r, const train_options *o, FILE **log) {
    int64_t epoch = 0, batch = 0, total_steps = 0;
    if (o->resume) {
        char v[64];
        if (nncl_load(r->g, r->opt, o->resume, NULL) != NNCL_OK) return fail("resuming");
        if (nncl_checkpoint_metadata(o->resume, "nncl_train.epoch", v, sizeof v) == NNCL_OK)
            epoch = strtoll(v, NULL, 10);
        batch = resume_batch(r, o);
        total_steps = nncl_optimizer_steps(r->opt);
        if (nncl_loader_seek(r->train_loader, epoch, batch) != NNCL_OK) return fail("resuming");
        printf("Resuming %s at epoch %lld, batch %lld (%lld steps done)\n", o->resume,
               (long long)epoch + 1, (long long)batch, (long long)total_steps);
        if (epoch >= o->epochs) {
            fprintf(stderr,
                    "nncl-train: %s is at the end of epoch %lld; --epochs %lld leaves nothing to "
                    "train (raise --epochs)\n",
                    o->resume, (long long)epoch, (long long)o->epochs);
            return 1;
        }
    }
    const nncl_device_info *dev = nncl_context_device(r->ctx);
    printf("Training %s (%lld parameters, %lld classes%s) on %s, %lld training and %lld test "
           "samples (%s), batch %lld\n",
           r->model->name, (long long)nncl_graph_trainable_count(r->g), (long long)r->dims.classes,
           r->model->dense ? " per position" : "", dev->name,
           (long long)nncl_dataset_count(r->data.train),
           (long long)nncl_dataset_count(r->data.test), r->data.layout, (long long)o->batch);
    if (r->dist)
        printf("Data-parallel over %d processes: global batch %lld (%lld each)%s\n", r->ranks,
               (long long)(o->batch * r->ranks), (long long)o->batch,
               o->sync_bn ? ", batch norm over the global batch" : "");
    *log = o->log_json && r->rank == 0 ? fopen(o->log_json, o->resume ? "a" : "w") : NULL;
    if (o->log_json && r->rank == 0 && !*log) {
        fprintf(stderr, "nncl-train: cannot write %s\n", o->log_json);
        return 1;
    }
    int64_t batches = nncl_loader_batches(r->train_loader), images_run = 0;
    double seconds_run = 0;
    bool stop = false;
    for (; epoch < o->epochs && !stop; epoch++, batch = 0) {
        progress bar;
        char label[64];
        snprintf(label, sizeof label, "epoch %lld/%lld", (long long)epoch + 1,
                 (long long)o->epochs);
        progress_start(&bar, stdout, label, batches);
        double loss_sum = 0, start = progress_now();
        int64_t seen = 0, valid, done = 0;
        tally running = {0};
        float lr = nncl_optimizer_lr(r->opt);
        nncl_status st;
        while ((st = nncl_loader_next(r->train_loader, r->g, r->x, r->y, &valid)) == NNCL_OK &&
               valid) {
            float loss;
            if (nncl_train_step(r->g, r->opt, r->loss, &loss) != NNCL_OK ||
                read_batch(r, o->batch) != NNCL_OK)
                return fail("training step");
            if (!isfinite(loss)) {
                fprintf(
                    stderr,
                    "nncl-train: the loss is %g at step %lld (epoch %lld): training diverged%s; "
                    "%s\n",
                    (double)loss, (long long)total_steps + 1, (long long)epoch + 1,
                    o->check_numerics ? "" : " (--check-numerics names the op where it starts)",
                    o->save ? "the last checkpoint is left as it was" : "nothing was saved");
                return 1;
            }
            loss_sum += loss;
            count(r, valid, &running);
            seen += valid;
            done++;
            batch++;
            total_steps++;
            char figures[96];
            snprintf(figures, sizeof figures, "loss %.4f  %.0f img/s", loss_sum / (double)done,
                     (double)(seen * r->ranks) / (progress_now() - start));
            progress_update(&bar, batch, figures);
            if (o->steps && total_steps >= o->steps) {
                stop = true;
                break;
            }
        }
        double seconds = progress_now() - start;
        progress_end(&bar);
        if (st != NNCL_OK) return fail("loading a training batch");
        if (r->dist) { /* every rank's share of the epoch's figures */
            double sums[4] = {loss_sum, (double)done, (double)running.right, (double)running.seen};
            if (nncl_dist_sum(r->dist, sums, 4) != NNCL_OK) return fail("epoch figures");
            loss_sum = sums[0] / (double)r->ranks;
            running.right = (int64_t)sums[2];
            running.seen = (int64_t)sums[3];
            seen *= r->ranks;
        }
        images_run += seen;
        seconds_run += seconds;
        double miou, test_acc = evaluate(r, o, &miou);
        if (test_acc < 0) return fail("evaluation");
        bool epoch_done = !stop || batch == batches;
        if (epoch_done) nncl_optimizer_schedule_step(r->opt);
        double mean_loss = done ? loss_sum / (double)done : 0,
               train_acc = running.seen ? (double)running.right / (double)running.seen : 0;
        char iou[32] = "";
        if (r->model->dense) snprintf(iou, sizeof iou, "  mIoU %.3f", miou);
        printf("epoch %lld/%lld  loss %.4f  train acc %.2f%%  test acc %.2f%%%s  %.0f img/s  lr "
               "%.3g  %.1f s%s\n",
               (long long)epoch + 1, (long long)o->epochs, mean_loss, 100 * train_acc,
               100 * test_acc, iou, (double)seen / seconds, (double)lr, seconds,
               epoch_done ? "" : " (stopped mid-epoch)");
        fflush(stdout);
        if (*log) {
            if (r->model->dense) snprintf(iou, sizeof iou, ", \"test_miou\": %.6f", miou);
            fprintf(*log,
                    "{\"epoch\": %lld, \"steps\": %lld, \"loss\": %.6f, \"train_accuracy\": %.6f, "
                    "\"test_accuracy\": %.6f%s, \"images_per_s\": %.1f, \"lr\": %.6g, "
                    "\"seconds\": %.2f}\n",
                    (long long)epoch + 1, (long long)total_steps, mean_loss, train_acc, test_acc,
                    iou, (double)seen / seconds, (double)lr, seconds);
            fflush(*log);
        }
        if (o->save && save(r, o, epoch_done ? epoch + 1 : epoch, epoch_done ? 0 : batch)) return 1;
    }
    if (r->dist) report_dist(r, images_run, seconds_run);
    if (o->save) printf("Checkpoint: %s\n", o->save);
    if (o->export_path && r->rank == 0) {
        if (nncl_onnx_export(r->g, o->export_path, &r->logits, 1) != NNCL_OK)
            return fail("--export");
        printf("ONNX model: %s\n", o->export_path);
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines appear at once in pipes and logs too */
    train_options o;
    int rc = train_parse_args(argc, argv, &o, stderr);
    if (rc < 0) {
        train_usage(stdout);
        return 0;
    }
    if (rc) return rc;
    run r = {.ranks = 1};
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK")) {
        nncl_dist_options d = {
            .sync_batch_norm = o.sync_bn, .bucket_mb = o.bucket_mb, .timeout_s = o.dist_timeout};
        if (nncl_dist_create(&d, &r.dist) != NNCL_OK) return fail("data-parallel start");
        r.rank = nncl_dist_rank(r.dist);
        r.ranks = nncl_dist_size(r.dist);
        rank_of_failure = r.rank;
        if (r.rank != 0 && !freopen("/dev/null", "w", stdout)) return fail("quieting stdout");
    } else if (o.sync_bn || o.bucket_mb || o.dist_timeout) {
        fprintf(stderr, "nncl-train: --sync-bn, --bucket-mb and --dist-timeout apply only under "
                        "mpirun; this run is one process\n");
    }
    FILE *log = NULL;
    rc = setup(&r, &o);
    if (!rc) rc = train(&r, &o, &log);
    if (log) fclose(log);
    release(&r);
    /* A failed rank exits without finalising MPI, which makes mpirun end
     * the job at once instead of the others waiting out their timeout. */
    if (!rc) nncl_dist_destroy(r.dist);
    return rc;
}

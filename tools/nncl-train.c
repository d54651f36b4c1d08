/* nncl-train: trains a built-in model or an ONNX file (fine-tuning, with
 * frozen layers and a new head) from the command line on a dataset
 * directory (IDX, NumPy arrays or image folders): classifiers, and dense
 * models scored per position (pixel accuracy, mean IoU); optimizer,
 * schedule, augmentation, checkpoints with exact resume, a progress bar on
 * a terminal and one line (and optionally one JSON object) per epoch. */
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

static int fail(const char *what) {
    fprintf(stderr, "nncl-train: %s: %s\n", what, nncl_last_error());
    return 1;
}

/* A device and an empty graph. */
static int open_graph(run *r, const train_options *o) {
    nncl_context_options co = {.device = o->device,
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
    if (!o->normalise && !strcmp(r->data.layout, "IDX"))
        train.mean = 0.2860f, train.std = 0.3530f; /* Fashion-MNIST's pixel mean and std */
    if (nncl_optimizer_create(r->g, &o->optim, &r->opt) != NNCL_OK) return fail("optimizer");
    if (nncl_optimizer_set_schedule(r->opt, &o->schedule) != NNCL_OK) return fail("schedule");
    if (nncl_loader_create(r->data.train, &train, &r->train_loader) != NNCL_OK)
        return fail("training loader");
    nncl_loader_options eval = {.batch = o->batch, .mean = train.mean, .std = train.std};
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
    *miou = per_class ? mean_iou(&t, classes) : 0;
    free(per_class);
    if (st != NNCL_OK || !t.seen) return -1;
    return (double)t.right / (double)t.seen;
}

static int save(run *r, const train_options *o, int64_t epoch, int64_t batch) {
    char e[32], b[32];
    snprintf(e, sizeof e, "%" PRId64, epoch);
    snprintf(b, sizeof b, "%" PRId64, batch);
    nncl_metadata meta[] = {
        {"nncl_train.model", o->model}, {"nncl_train.epoch", e}, {"nncl_train.batch", b}};
    return nncl_save(r->g, r->opt, o->save, meta, 3) == NNCL_OK ? 0 : fail("saving");
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

/* The epochs; returns the exit status. */
static int train(run *r, const train_options *o, FILE **log) {
    int64_t epoch = 0, batch = 0, total_steps = 0;
    if (o->resume) {
        char v[64];
        if (nncl_load(r->g, r->opt, o->resume, NULL) != NNCL_OK) return fail("resuming");
        if (nncl_checkpoint_metadata(o->resume, "nncl_train.epoch", v, sizeof v) == NNCL_OK)
            epoch = strtoll(v, NULL, 10);
        if (nncl_checkpoint_metadata(o->resume, "nncl_train.batch", v, sizeof v) == NNCL_OK)
            batch = strtoll(v, NULL, 10);
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
    *log = o->log_json ? fopen(o->log_json, o->resume ? "a" : "w") : NULL;
    if (o->log_json && !*log) {
        fprintf(stderr, "nncl-train: cannot write %s\n", o->log_json);
        return 1;
    }
    int64_t batches = nncl_loader_batches(r->train_loader);
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
                     (double)seen / (progress_now() - start));
            progress_update(&bar, batch, figures);
            if (o->steps && total_steps >= o->steps) {
                stop = true;
                break;
            }
        }
        double seconds = progress_now() - start;
        progress_end(&bar);
        if (st != NNCL_OK) return fail("loading a training batch");
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
    if (o->save) printf("Checkpoint: %s\n", o->save);
    if (o->export_path) {
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
    run r = {0};
    FILE *log = NULL;
    rc = setup(&r, &o);
    if (!rc) rc = train(&r, &o, &log);
    if (log) fclose(log);
    release(&r);
    return rc;
}

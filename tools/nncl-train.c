/* nncl-train: trains a built-in model on an IDX image dataset (MNIST,
 * Fashion-MNIST) from the command line: optimizer, schedule, augmentation,
 * checkpoints with exact resume, a progress bar on a terminal and one line
 * (and optionally one JSON object) per epoch. */
#define _POSIX_C_SOURCE 200809L
#include "models.h"
#include "progress.h"

#include <nncl.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
    const char *data, *model, *device, *save, *resume, *log_json;
    int64_t epochs, steps, batch;
    float smoothing;
    nncl_optim_params optim;
    nncl_schedule schedule;
    nncl_loader_options loader;
} options;

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: nncl-train --data DIR [options]\n"
        "Trains a built-in model on the IDX files in DIR (train-* and t10k-*, plain or .gz).\n"
        "\n"
        "  --model NAME          %s (default fashion_cnn)\n"
        "  --epochs N            epochs to train (default 5)\n"
        "  --steps N             stop after N steps in all instead\n"
        "  --batch N             batch size (default 64)\n"
        "  --optimizer NAME      sgd, adam, adamw, adagrad, rmsprop, adadelta (default adam)\n"
        "  --lr X                learning rate (default: the optimizer's; sgd 0.05)\n"
        "  --momentum X          sgd / rmsprop momentum (sgd default 0.9)\n"
        "  --nesterov            Nesterov momentum (sgd)\n"
        "  --weight-decay X      L2 (adamw: decoupled decay)\n"
        "  --l1 X                L1 regularisation\n"
        "  --clip X              clip gradients to global norm X\n"
        "  --label-smoothing X   cross-entropy label smoothing in [0, 1]\n"
        "  --schedule NAME       constant, step, multistep, exponential, cosine (per epoch)\n"
        "  --step-size N         step schedule period in epochs (default 2)\n"
        "  --gamma X             decay factor (default 0.1; exponential: 0.9)\n"
        "  --milestones A,B,..   multistep epochs\n"
        "  --warmup N            linear warm-up over N epochs\n"
        "  --hflip               random horizontal flips\n"
        "  --shift N             random shifts of up to N pixels\n"
        "  --rotate DEG          random rotations of up to DEG degrees\n"
        "  --noise STD           gaussian noise\n"
        "  --seed N              seed for weights, dropout, shuffling, augmentation (default 1)\n"
        "  --no-shuffle          keep the dataset order\n"
        "  --device SPEC         gpu, cpu, P:D or part of a name (default NNCL_DEVICE)\n"
        "  --save FILE           write a checkpoint after every epoch and at the end\n"
        "  --resume FILE         continue from a checkpoint\n"
        "  --log-json FILE       one JSON line per epoch\n",
        model_names());
}

/* A number, all of s. */
static bool parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return s[0] && !*end && !errno;
}

/* Flags that take a count: whole numbers from 0 to 2^53. */
static bool is_count_flag(const char *flag) {
    static const char *const counts[] = {"--epochs", "--steps", "--batch", "--step-size",
                                         "--warmup", "--shift", "--seed"};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
        if (!strcmp(flag, counts[k])) return true;
    return false;
}

/* "A,B,..": whole epochs >= 0, at most NNCL_MAX_MILESTONES. */
static bool parse_milestones(const char *v, nncl_schedule *s) {
    const char *p = v;
    s->n_milestones = 0;
    while (*p) {
        char *end;
        errno = 0;
        long long m = strtoll(p, &end, 10);
        if (end == p || errno || m < 0 || s->n_milestones == NNCL_MAX_MILESTONES ||
            (*end && *end != ','))
            return false;
        s->milestones[s->n_milestones++] = m;
        p = *end ? end + 1 : end;
        if (*end && !*p) return false; /* a trailing comma */
    }
    return s->n_milestones > 0;
}

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.model = "fashion_cnn", .epochs = 5, .batch = 64};
    o->optim.kind = NNCL_OPTIM_ADAM;
    o->loader = (nncl_loader_options){.shuffle = true, .seed = 1};
    const char *optimizer = "adam", *schedule = "constant";
    double lr = 0, momentum = -1, gamma = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x = 0;
        bool takes = strcmp(a, "--nesterov") && strcmp(a, "--hflip") && strcmp(a, "--no-shuffle") &&
                     strcmp(a, "--help") && strcmp(a, "-h");
        if (takes && !v) {
            fprintf(stderr, "nncl-train: %s needs a value\n", a);
            return 2;
        }
        static const char *const numeric_flags[] = {
            "--epochs",    "--steps",        "--batch",  "--lr",
            "--momentum",  "--weight-decay", "--l1",     "--clip",
            "--step-size", "--gamma",        "--warmup", "--shift",
            "--rotate",    "--noise",        "--seed",   "--label-smoothing"};
        for (size_t k = 0; k < sizeof numeric_flags / sizeof numeric_flags[0]; k++) {
            if (strcmp(a, numeric_flags[k])) continue;
            if (!parse_number(v, &x)) {
                fprintf(stderr, "nncl-train: %s takes a number, not '%s'\n", a, v);
                return 2;
            }
            if (!isfinite(x)) {
                fprintf(stderr, "nncl-train: %s takes a finite number, not '%s'\n", a, v);
                return 2;
            }
            if (is_count_flag(a) &&
                !(x >= 0 && x <= 9007199254740992.0 && x == (double)(int64_t)x)) {
                fprintf(stderr, "nncl-train: %s takes a whole number >= 0, not '%s'\n", a, v);
                return 2;
            }
            if (!is_count_flag(a) && x < 0) {
                fprintf(stderr, "nncl-train: %s must be >= 0, not '%s'\n", a, v);
                return 2;
            }
        }
#define NUM(flag) (!strcmp(a, flag))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--data"))
            o->data = v;
        else if (!strcmp(a, "--model"))
            o->model = v;
        else if (!strcmp(a, "--device"))
            o->device = v;
        else if (!strcmp(a, "--save"))
            o->save = v;
        else if (!strcmp(a, "--resume"))
            o->resume = v;
        else if (!strcmp(a, "--log-json"))
            o->log_json = v;
        else if (!strcmp(a, "--optimizer"))
            optimizer = v;
        else if (!strcmp(a, "--schedule"))
            schedule = v;
        else if (!strcmp(a, "--milestones")) {
            if (!parse_milestones(v, &o->schedule)) {
                fprintf(stderr,
                        "nncl-train: --milestones takes 1 to %d whole epochs >= 0 separated by "
                        "commas, not '%s'\n",
                        NNCL_MAX_MILESTONES, v);
                return 2;
            }
        } else if (NUM("--epochs"))
            o->epochs = (int64_t)x;
        else if (NUM("--steps"))
            o->steps = (int64_t)x;
        else if (NUM("--batch"))
            o->batch = (int64_t)x;
        else if (NUM("--lr")) {
            if (x <= 0) {
                fprintf(stderr, "nncl-train: --lr must be > 0, not '%s'\n", v);
                return 2;
            }
            lr = x;
        } else if (NUM("--momentum"))
            momentum = x;
        else if (NUM("--weight-decay"))
            o->optim.weight_decay = (float)x;
        else if (NUM("--l1"))
            o->optim.l1 = (float)x;
        else if (NUM("--clip"))
            o->optim.clip_grad_norm = (float)x;
        else if (NUM("--label-smoothing"))
            o->smoothing = (float)x;
        else if (NUM("--step-size"))
            o->schedule.step_size = (int64_t)x;
        else if (NUM("--gamma"))
            gamma = x;
        else if (NUM("--warmup"))
            o->schedule.warmup = (int64_t)x;
        else if (NUM("--shift"))
            o->loader.shift = (int64_t)x;
        else if (NUM("--rotate"))
            o->loader.rotate_degrees = (float)x;
        else if (NUM("--noise"))
            o->loader.noise_std = (float)x;
        else if (NUM("--seed"))
            o->loader.seed = (uint64_t)x;
        else if (!strcmp(a, "--nesterov"))
            o->optim.nesterov = true;
        else if (!strcmp(a, "--hflip"))
            o->loader.hflip = true;
        else if (!strcmp(a, "--no-shuffle"))
            o->loader.shuffle = false;
        else {
            fprintf(stderr, "nncl-train: unknown option '%s' (see --help)\n", a);
            return 2;
        }
#undef NUM
        if (takes) i++;
    }
    if (!o->data) {
        usage(stderr);
        return 2;
    }
    static const char *const optimizers[] = {"sgd",     "adam",    "adamw",
                                             "adagrad", "rmsprop", "adadelta"};
    int kind = -1;
    for (int k = 0; k < 6; k++)
        if (!strcmp(optimizer, optimizers[k])) kind = k;
    if (kind < 0) {
        fprintf(stderr, "nncl-train: unknown optimizer '%s'\n", optimizer);
        return 2;
    }
    o->optim.kind = (nncl_optim_kind)kind;
    o->optim.lr = (float)(lr > 0 ? lr : kind == NNCL_OPTIM_SGD ? 0.05 : 0);
    o->optim.momentum = (float)(momentum >= 0 ? momentum : kind == NNCL_OPTIM_SGD ? 0.9 : 0);
    static const char *const schedules[] = {"constant", "step", "multistep", "exponential",
                                            "cosine"};
    int sk = -1;
    for (int k = 0; k < 5; k++)
        if (!strcmp(schedule, schedules[k])) sk = k;
    if (sk < 0) {
        fprintf(stderr, "nncl-train: unknown schedule '%s'\n", schedule);
        return 2;
    }
    o->schedule.kind = (nncl_schedule_kind)sk;
    if (o->schedule.kind == NNCL_SCHEDULE_STEP && !o->schedule.step_size) o->schedule.step_size = 2;
    if (o->schedule.kind == NNCL_SCHEDULE_COSINE) o->schedule.t_max = o->epochs;
    o->schedule.gamma = (float)(gamma > 0 ? gamma : sk == NNCL_SCHEDULE_EXPONENTIAL ? 0.9 : 0);
    o->loader.batch = o->batch;
    o->loader.mean = 0.2860f; /* Fashion-MNIST's pixel mean and std */
    o->loader.std = 0.3530f;
    if (o->epochs < 1 || o->batch < 2 || o->steps < 0) {
        fprintf(stderr, "nncl-train: need --epochs >= 1, --batch >= 2, --steps >= 0\n");
        return 2;
    }
    return 0;
}

/* Counts predictions that match the labels among the first `valid` rows. */
static int64_t correct(const float *logits, const int32_t *labels, int64_t valid, int64_t classes) {
    int64_t right = 0;
    for (int64_t n = 0; n < valid; n++) {
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (logits[n * classes + c] > logits[n * classes + best]) best = c;
        right += best == labels[n];
    }
    return right;
}

typedef struct run {
    nncl_context *ctx;
    nncl_graph *g;
    nncl_node *x, *y, *logits, *loss;
    nncl_optimizer *opt;
    nncl_dataset *train, *test;
    nncl_loader *train_loader, *test_loader;
    const model_info *model;
    float *logits_host;
    int32_t *labels_host;
} run;

static int fail(const char *what) {
    fprintf(stderr, "nncl-train: %s: %s\n", what, nncl_last_error());
    return 1;
}

static int setup(run *r, const options *o) {
    r->model = model_find(o->model);
    if (!r->model) {
        fprintf(stderr, "nncl-train: unknown model '%s' (built in: %s)\n", o->model, model_names());
        return 2;
    }
    if (nncl_dataset_load_mnist(o->data, true, &r->train) != NNCL_OK) return fail("training data");
    if (nncl_dataset_load_mnist(o->data, false, &r->test) != NNCL_OK) return fail("test data");
    nncl_shape s = nncl_dataset_image_shape(r->train);
    bool same = s.rank == r->model->input.rank;
    for (int32_t i = 0; same && i < s.rank; i++)
        same = s.dims[i] == r->model->input.dims[i];
    if (!same) {
        fprintf(stderr, "nncl-train: %s takes %lldx%lldx%lld images; %s has %lldx%lldx%lld\n",
                o->model, (long long)r->model->input.dims[0], (long long)r->model->input.dims[1],
                (long long)r->model->input.dims[2], o->data, (long long)s.dims[0],
                (long long)s.dims[1], (long long)s.dims[2]);
        return 1;
    }
    if (nncl_context_create(&(nncl_context_options){.device = o->device}, &r->ctx) != NNCL_OK)
        return fail("device");
    if (nncl_graph_create(r->ctx, &(nncl_graph_options){.seed = o->loader.seed}, &r->g) != NNCL_OK)
        return fail("graph");
    r->x = nncl_input(r->g, "image", NNCL_SHAPE(o->batch, s.dims[0], s.dims[1], s.dims[2]));
    r->y = nncl_input_labels(r->g, "label", o->batch);
    r->logits = r->model->build(r->g, r->x);
    r->loss = nncl_cross_entropy(r->g, r->logits, r->y,
                                 &(nncl_loss_params){.label_smoothing = o->smoothing}, "loss");
    if (nncl_graph_status(r->g) != NNCL_OK) {
        fprintf(stderr, "nncl-train: %s\n", nncl_graph_error(r->g));
        return 1;
    }
    nncl_graph_keep(r->g, r->logits); /* read after each step for the running accuracy */
    if (nncl_optimizer_create(r->g, &o->optim, &r->opt) != NNCL_OK) return fail("optimizer");
    if (nncl_optimizer_set_schedule(r->opt, &o->schedule) != NNCL_OK) return fail("schedule");
    if (nncl_loader_create(r->train, &o->loader, &r->train_loader) != NNCL_OK)
        return fail("training loader");
    nncl_loader_options eval = {.batch = o->batch, .mean = o->loader.mean, .std = o->loader.std};
    if (nncl_loader_create(r->test, &eval, &r->test_loader) != NNCL_OK) return fail("test loader");
    r->logits_host = malloc((size_t)(o->batch * r->model->classes) * sizeof(float));
    r->labels_host = malloc((size_t)o->batch * sizeof(int32_t));
    return r->logits_host && r->labels_host ? 0 : 1;
}

/* Labels of the batch just loaded, read back (they are on the device;
 * the read copies bytes, whatever the pointer's type). */
static nncl_status batch_labels(run *r, int64_t batch) {
    return nncl_graph_read(r->g, r->y, (float *)(void *)r->labels_host,
                           (size_t)batch * sizeof(int32_t));
}

static double evaluate(run *r, const options *o) {
    int64_t valid, right = 0, seen = 0;
    nncl_loader_seek(r->test_loader, 0, 0);
    size_t bytes = (size_t)(o->batch * r->model->classes) * sizeof(float);
    nncl_status st;
    while ((st = nncl_loader_next(r->test_loader, r->g, r->x, r->y, &valid)) == NNCL_OK && valid) {
        if (nncl_graph_infer(r->g, r->logits, r->logits_host, bytes) != NNCL_OK ||
            batch_labels(r, o->batch) != NNCL_OK)
            return -1;
        right += correct(r->logits_host, r->labels_host, valid, r->model->classes);
        seen += valid;
    }
    if (st != NNCL_OK || !seen) return -1;
    return (double)right / (double)seen;
}

static int save(run *r, const options *o, int64_t epoch, int64_t batch) {
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
    nncl_dataset_destroy(r->train);
    nncl_dataset_destroy(r->test);
}

/* The epochs; returns the exit status. */
static int train(run *r, const options *o, FILE **log) {
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
    printf("Training %s (%lld parameters) on %s, %lld training and %lld test images, batch %lld\n",
           o->model, (long long)nncl_graph_trainable_count(r->g), dev->name,
           (long long)nncl_dataset_count(r->train), (long long)nncl_dataset_count(r->test),
           (long long)o->batch);
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
        int64_t right = 0, seen = 0, valid, done = 0;
        size_t bytes = (size_t)(o->batch * r->model->classes) * sizeof(float);
        float lr = nncl_optimizer_lr(r->opt);
        nncl_status st;
        while ((st = nncl_loader_next(r->train_loader, r->g, r->x, r->y, &valid)) == NNCL_OK &&
               valid) {
            float loss;
            if (nncl_train_step(r->g, r->opt, r->loss, &loss) != NNCL_OK ||
                nncl_graph_read(r->g, r->logits, r->logits_host, bytes) != NNCL_OK ||
                batch_labels(r, o->batch) != NNCL_OK)
                return fail("training step");
            loss_sum += loss;
            right += correct(r->logits_host, r->labels_host, valid, r->model->classes);
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
        double test_acc = evaluate(r, o);
        if (test_acc < 0) return fail("evaluation");
        bool epoch_done = !stop || batch == batches;
        if (epoch_done) nncl_optimizer_schedule_step(r->opt);
        double mean_loss = done ? loss_sum / (double)done : 0,
               train_acc = seen ? (double)right / (double)seen : 0;
        printf(
            "epoch %lld/%lld  loss %.4f  train acc %.2f%%  test acc %.2f%%  %.0f img/s  lr %.3g  "
            "%.1f s%s\n",
            (long long)epoch + 1, (long long)o->epochs, mean_loss, 100 * train_acc, 100 * test_acc,
            (double)seen / seconds, (double)lr, seconds, epoch_done ? "" : " (stopped mid-epoch)");
        fflush(stdout);
        if (*log) {
            fprintf(*log,
                    "{\"epoch\": %lld, \"steps\": %lld, \"loss\": %.6f, \"train_accuracy\": %.6f, "
                    "\"test_accuracy\": %.6f, \"images_per_s\": %.1f, \"lr\": %.6g, \"seconds\": "
                    "%.2f}\n",
                    (long long)epoch + 1, (long long)total_steps, mean_loss, train_acc, test_acc,
                    (double)seen / seconds, (double)lr, seconds);
            fflush(*log);
        }
        if (o->save && save(r, o, epoch_done ? epoch + 1 : epoch, epoch_done ? 0 : batch)) return 1;
    }
    if (o->save) printf("Checkpoint: %s\n", o->save);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines appear at once in pipes and logs too */
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    run r = {0};
    FILE *log = NULL;
    rc = setup(&r, &o);
    if (!rc) rc = train(&r, &o, &log);
    if (log) fclose(log);
    release(&r);
    return rc;
}

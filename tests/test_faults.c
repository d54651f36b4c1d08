/* Failure injection over every point reached (faults.h): for building a
 * graph, one training step (its plan included), a save, a load and a
 * loader epoch, the n-th host allocation, OpenCL buffer creation or enqueue
 * fails, for every n until the operation runs through. Each failure must
 * come back as an error with a message (or be one the library documents
 * as harmless), leak nothing (the sanitizer build's LeakSanitizer checks
 * at exit), and leave the context and graph usable: the same operation
 * then succeeds. */
#include "faults.h"
#include "harness.h"

#include <stdio.h>
#include <string.h>

enum { BATCH = 4, SIDE = 8, CLASSES = 3 };

typedef struct fixture {
    nncl_graph *g;
    nncl_node *x, *y, *loss;
    nncl_optimizer *opt;
    nncl_dataset *ds;
    char path[160];
} fixture;

static nncl_status build(fixture *f) {
    nncl_status st = nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 2}, &f->g);
    if (st != NNCL_OK) return st;
    f->x = nncl_input(f->g, "x", NNCL_SHAPE(BATCH, 1, SIDE, SIDE));
    f->y = nncl_input_labels(f->g, "y", BATCH);
    nncl_node *h = nncl_conv(
        f->g, f->x, &(nncl_conv_params){.out_channels = 4, .kernel = {3, 3}, .padding = {1, 1}},
        "conv");
    h = nncl_relu(f->g, nncl_batch_norm(f->g, h, NULL, "bn"), NULL);
    h = nncl_max_pool(f->g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool");
    h = nncl_linear(f->g, nncl_dropout(f->g, nncl_flatten(f->g, h, NULL), 0.25f, "drop"), CLASSES,
                    NULL, "fc");
    f->loss = nncl_cross_entropy(f->g, h, f->y, NULL, "loss");
    st = nncl_graph_status(f->g);
    if (st == NNCL_OK)
        st = nncl_optimizer_create(f->g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM}, &f->opt);
    if (st != NNCL_OK) {
        nncl_graph_destroy(f->g);
        f->g = NULL;
    }
    return st;
}

static void release(fixture *f) {
    nncl_optimizer_destroy(f->opt);
    nncl_graph_destroy(f->g);
    f->opt = NULL;
    f->g = NULL;
}

static nncl_status step(fixture *f) {
    static float images[BATCH * SIDE * SIDE];
    int32_t labels[BATCH] = {0, 1, 2, 1};
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++)
        images[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    float loss;
    nncl_status st = nncl_graph_set_input(f->g, f->x, images, sizeof images);
    if (st == NNCL_OK) st = nncl_graph_set_input(f->g, f->y, labels, sizeof labels);
    if (st == NNCL_OK) st = nncl_train_step(f->g, f->opt, f->loss, &loss);
    return st;
}

static nncl_status save(fixture *f) {
    nncl_metadata meta = {"user.note", "fault test"};
    return nncl_save(f->g, f->opt, f->path, &meta, 1);
}

static nncl_status load(fixture *f) {
    return nncl_load(f->g, f->opt, f->path, NULL);
}

static nncl_status epoch(fixture *f) {
    nncl_loader *l;
    nncl_status st = nncl_loader_create(
        f->ds, &(nncl_loader_options){.batch = BATCH, .shuffle = true, .hflip = true, .std = 0.5f},
        &l);
    int64_t valid = 1;
    while (st == NNCL_OK && valid)
        st = nncl_loader_next(l, f->g, f->x, f->y, &valid);
    nncl_loader_destroy(l);
    return st;
}

typedef struct scenario {
    const char *name;
    nncl_status (*setup)(fixture *); /* unarmed, before each attempt; may be NULL */
    nncl_status (*attempt)(fixture *);
    nncl_status (*after_failure)(fixture *); /* must succeed after a failed attempt; may be NULL */
} scenario;

static nncl_status built_and_stepped(fixture *f) {
    nncl_status st = build(f);
    return st == NNCL_OK ? step(f) : st;
}

static nncl_status saved(fixture *f) {
    nncl_status st = built_and_stepped(f);
    return st == NNCL_OK ? save(f) : st;
}

static const char *const kind_names[] = {"host allocation", "buffer creation", "enqueue"};

/* Fails the n-th call of kind in s.attempt for n = 1, 2, ... until an
 * attempt runs without reaching n. Returns the points exercised. */
static int64_t exhaust(const scenario *s, fault_kind kind, fixture *f) {
    int64_t n = 1, tolerated = 0;
    for (;; n++) {
        if (s->setup) ASSERT_OK(s->setup(f));
        fault_arm(kind, n);
        nncl_status st = s->attempt(f);
        bool fired = fault_disarm();
        if (!fired) {
            if (st != NNCL_OK)
                fail_msg("%s: failed with no fault injected: %s", s->name, nncl_last_error());
            release(f);
            break;
        }
        if (st == NNCL_OK)
            tolerated++; /* a documented best-effort path (a cache file, a profile event) */
        else if (!nncl_last_error()[0])
            fail_msg("%s: %s %lld failed with an empty message", s->name, kind_names[kind],
                     (long long)n);
        if (st != NNCL_OK && s->after_failure && s->after_failure(f) != NNCL_OK)
            fail_msg("%s: after %s %lld failed: %s", s->name, kind_names[kind], (long long)n,
                     nncl_last_error());
        /* Usable afterwards: the same operation succeeds (building a graph
         * again in the same context, the rest on the same graph). */
        if (!s->setup) release(f);
        nncl_status again = s->attempt(f);
        if (again != NNCL_OK)
            fail_msg("%s: after %s %lld failed (%s), the retry failed: %s", s->name,
                     kind_names[kind], (long long)n, nncl_status_name(st), nncl_last_error());
        release(f);
    }
    print_message("%-14s %-16s %5lld points (%lld tolerated)\n", s->name, kind_names[kind],
                  (long long)(n - 1), (long long)tolerated);
    return n - 1;
}

static void run_all(const scenario *s) {
    fixture f = {0};
    test_context(); /* made and its kernels built before any fault is armed */
    ASSERT_OK(nncl_context_warm_up(test_context()));
    snprintf(f.path, sizeof f.path, "%s/fault.safetensors", test_dir);
    static uint8_t images[6 * SIDE * SIDE];
    int32_t labels[6] = {0, 1, 2, 0, 1, 2};
    ASSERT_OK(nncl_dataset_create(images, labels, 6, 1, SIDE, SIDE, &f.ds));
    int64_t total = 0;
    for (int kind = FAULT_ALLOC; kind <= FAULT_ENQUEUE; kind++)
        total += exhaust(s, (fault_kind)kind, &f);
    assert_true(total > 0);
    nncl_dataset_destroy(f.ds);
}

static nncl_status build_only(fixture *f) {
    return build(f);
}

static void test_build_graph(void **state) {
    (void)state;
    run_all(&(scenario){"build a graph", NULL, build_only, NULL});
}

static void test_training_step(void **state) {
    (void)state;
    run_all(&(scenario){"training step", build, step, NULL});
}

/* A save that fails leaves the previous file, which still loads. */
static void test_save(void **state) {
    (void)state;
    run_all(&(scenario){"save", saved, save, load});
}

static void test_load(void **state) {
    (void)state;
    run_all(&(scenario){"load", saved, load, NULL});
}

static void test_loader_epoch(void **state) {
    (void)state;
    run_all(&(scenario){"loader epoch", build, epoch, NULL});
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_graph),  cmocka_unit_test(test_training_step),
        cmocka_unit_test(test_save),         cmocka_unit_test(test_load),
        cmocka_unit_test(test_loader_epoch),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}

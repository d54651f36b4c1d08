/* Optimizers and schedules against torch.optim: five steps of each
 * optimizer on Linear(3, 2) + MSE from stored weights and data must give
 * the stored parameters after every step (1e-5 relative), and each schedule
 * the stored learning rates. Also frozen parameters (and a clipped step
 * over parameters split by a frozen layer), initialisers and the
 * optimizer's argument checks. */
#include "harness.h"
#include "torch_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct optim_case {
    const char *name;
    nncl_optim_params p;
} optim_case;

static const optim_case optim_cases[] = {
    {"sgd", {.kind = NNCL_OPTIM_SGD, .lr = 0.1f}},
    {"sgd_momentum",
     {.kind = NNCL_OPTIM_SGD,
      .lr = 0.05f,
      .momentum = 0.9f,
      .dampening = 0.1f,
      .weight_decay = 0.01f}},
    {"sgd_nesterov",
     {.kind = NNCL_OPTIM_SGD,
      .lr = 0.05f,
      .momentum = 0.9f,
      .nesterov = true,
      .weight_decay = 1e-3f}},
    {"adam", {.kind = NNCL_OPTIM_ADAM, .lr = 0.01f, .weight_decay = 0.01f}},
    {"adamw", {.kind = NNCL_OPTIM_ADAMW, .lr = 0.01f, .weight_decay = 0.1f}},
    {"adagrad",
     {.kind = NNCL_OPTIM_ADAGRAD,
      .lr = 0.1f,
      .lr_decay = 0.01f,
      .weight_decay = 0.01f,
      .initial_accumulator = 0.1f}},
    {"rmsprop", {.kind = NNCL_OPTIM_RMSPROP, .lr = 0.01f, .alpha = 0.9f}},
    {"rmsprop_centered",
     {.kind = NNCL_OPTIM_RMSPROP,
      .lr = 0.01f,
      .momentum = 0.5f,
      .centered = true,
      .weight_decay = 0.01f}},
    {"adadelta", {.kind = NNCL_OPTIM_ADADELTA, .lr = 1.0f, .rho = 0.9f, .weight_decay = 0.01f}},
    {"sgd_clip", {.kind = NNCL_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f, .clip_grad_norm = 0.5f}},
    {"adam_l1", {.kind = NNCL_OPTIM_ADAM, .lr = 0.01f, .l1 = 0.01f}},
    {"sgd_elastic", {.kind = NNCL_OPTIM_SGD, .lr = 0.1f, .weight_decay = 0.01f, .l1 = 0.01f}},
};

/* Linear(3, 2) + MSE on the stored data, with the stored starting weights. */
typedef struct model {
    nncl_graph *g;
    nncl_node *loss;
} model;

static model linear_model(void) {
    model m;
    const tensor *x = need("optim_data", "x"), *t = need("optim_data", "target");
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &m.g));
    nncl_node *in = nncl_input(m.g, "x", x->shape);
    nncl_node *target = nncl_input(m.g, "target", t->shape);
    m.loss = nncl_mse_loss(m.g, nncl_linear(m.g, in, 2, NULL, "fc"), target, NULL, "loss");
    assert_non_null(m.loss);
    float *xf = to_float(x->v, x->n), *tf = to_float(t->v, t->n);
    ASSERT_OK(nncl_graph_set_input(m.g, in, xf, (size_t)x->n * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(m.g, target, tf, (size_t)t->n * sizeof(float)));
    free(xf);
    free(tf);
    const char *names[2] = {"weight", "bias"};
    for (int k = 0; k < 2; k++) {
        const tensor *w = need("optim_data", names[k]);
        float *wf = to_float(w->v, w->n);
        char full[32];
        snprintf(full, sizeof full, "fc.%s", names[k]);
        ASSERT_OK(nncl_graph_param_write(m.g, full, wf, (size_t)w->n * sizeof(float)));
        free(wf);
    }
    return m;
}

static void test_optimizers_match_torch(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof optim_cases / sizeof optim_cases[0]; i++) {
        const optim_case *c = &optim_cases[i];
        char test[64];
        snprintf(test, sizeof test, "optim_%s", c->name);
        model m = linear_model();
        nncl_optimizer *opt;
        ASSERT_OK(nncl_optimizer_create(m.g, &c->p, &opt));
        const tensor *losses = need(test, "loss");
        for (int step = 0; step < 5; step++) {
            float loss;
            ASSERT_OK(nncl_train_step(m.g, opt, m.loss, &loss));
            char what[128];
            snprintf(what, sizeof what, "%s: loss before step %d", c->name, step);
            assert_close(what, &loss, &losses->v[step], 1, 1e-5, 1e-6);
            const char *names[2] = {"weight", "bias"};
            for (int k = 0; k < 2; k++) {
                char key[32], full[32];
                snprintf(key, sizeof key, "%s.%d", names[k], step);
                snprintf(full, sizeof full, "fc.%s", names[k]);
                const tensor *want = need(test, key);
                float got[6];
                ASSERT_OK(nncl_graph_param_read(m.g, full, got, (size_t)want->n * sizeof(float)));
                snprintf(what, sizeof what, "%s: %s after step %d", c->name, names[k], step);
                assert_close(what, got, want->v, want->n, 1e-5, 1e-6);
            }
        }
        assert_int_equal(nncl_optimizer_steps(opt), 5);
        nncl_optimizer_destroy(opt);
        nncl_graph_destroy(m.g);
    }
}

typedef struct schedule_case {
    const char *name;
    nncl_schedule s;
} schedule_case;

static void test_schedules_match_torch(void **state) {
    (void)state;
    static const schedule_case cases[] = {
        {"step", {.kind = NNCL_SCHEDULE_STEP, .step_size = 3, .gamma = 0.5f}},
        {"multi_step",
         {.kind = NNCL_SCHEDULE_MULTI_STEP,
          .milestones = {2, 5, 9},
          .n_milestones = 3,
          .gamma = 0.3f}},
        {"exponential", {.kind = NNCL_SCHEDULE_EXPONENTIAL, .gamma = 0.8f}},
        {"cosine", {.kind = NNCL_SCHEDULE_COSINE, .t_max = 8, .eta_min = 0.01f}},
        {"warmup", {.warmup = 4, .warmup_start_factor = 0.25f}},
        {"warmup_step",
         {.kind = NNCL_SCHEDULE_STEP,
          .step_size = 4,
          .gamma = 0.5f,
          .warmup = 3,
          .warmup_start_factor = 0.5f}},
    };
    model m = linear_model();
    nncl_optimizer *opt;
    ASSERT_OK(nncl_optimizer_create(m.g, &(nncl_optim_params){.lr = 0.1f}, &opt));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char test[64], what[96];
        snprintf(test, sizeof test, "schedule_%s", cases[i].name);
        ASSERT_OK(nncl_optimizer_set_schedule(opt, &cases[i].s));
        const tensor *want = need(test, "lr");
        for (int64_t e = 0; e < want->n; e++) {
            float lr = nncl_optimizer_lr(opt);
            snprintf(what, sizeof what, "%s: lr at %lld", cases[i].name, (long long)e);
            assert_close(what, &lr, &want->v[e], 1, 1e-5, 1e-9);
            nncl_optimizer_schedule_step(opt);
        }
    }
    assert_int_equal(nncl_optimizer_set_schedule(opt, &(nncl_schedule){.kind = NNCL_SCHEDULE_STEP}),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(
        nncl_optimizer_set_schedule(opt, &(nncl_schedule){.kind = NNCL_SCHEDULE_MULTI_STEP,
                                                          .milestones = {5, 2},
                                                          .n_milestones = 2}),
        NNCL_ERROR_INVALID_ARGUMENT);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(m.g);
}

/* A frozen weight keeps its value and gets no gradient; the bias trains. */
static void test_frozen_parameters(void **state) {
    (void)state;
    model m = linear_model();
    assert_int_equal(nncl_graph_freeze(m.g, "nothing.", true), NNCL_ERROR_NOT_FOUND);
    ASSERT_OK(nncl_graph_freeze(m.g, "fc.weight", true));
    nncl_optimizer *opt;
    ASSERT_OK(nncl_optimizer_create(m.g, &(nncl_optim_params){.lr = 0.1f}, &opt));
    float before[6], after[6], bias_before[2], bias_after[2], grad[6];
    ASSERT_OK(nncl_graph_param_read(m.g, "fc.weight", before, sizeof before));
    ASSERT_OK(nncl_graph_param_read(m.g, "fc.bias", bias_before, sizeof bias_before));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(nncl_train_step(m.g, opt, m.loss, NULL));
    ASSERT_OK(nncl_graph_param_read(m.g, "fc.weight", after, sizeof after));
    ASSERT_OK(nncl_graph_param_read(m.g, "fc.bias", bias_after, sizeof bias_after));
    ASSERT_OK(nncl_graph_grad_read(m.g, "fc.weight", grad, sizeof grad));
    assert_memory_equal(before, after, sizeof before);
    for (int i = 0; i < 6; i++)
        assert_true(grad[i] == 0.0f);
    assert_true(bias_before[0] != bias_after[0]);
    nncl_param_info info;
    ASSERT_OK(nncl_graph_param_info(m.g, 0, &info));
    assert_true(info.frozen);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(m.g);
}

/* x -> "res.proj" (linear) -> "res.proj_bn" (batch norm) -> "head"
 * (linear) -> MSE: the layer names of a fine-tuning recipe. */
typedef struct tuned {
    nncl_graph *g;
    nncl_node *loss;
} tuned;

static tuned tuned_model(void) {
    tuned m;
    ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 9}, &m.g));
    nncl_node *x = nncl_input(m.g, "x", NNCL_SHAPE(6, 4)),
              *t = nncl_input(m.g, "t", NNCL_SHAPE(6, 2));
    nncl_node *h =
        nncl_batch_norm(m.g, nncl_linear(m.g, x, 5, NULL, "res.proj"), NULL, "res.proj_bn");
    m.loss = nncl_mse_loss(m.g, nncl_linear(m.g, nncl_tanh(m.g, h, NULL), 2, NULL, "head"), t, NULL,
                           "loss");
    assert_non_null(m.loss);
    float xs[24], ts[12];
    for (int i = 0; i < 24; i++)
        xs[i] = sinf(0.9f * (float)i);
    for (int i = 0; i < 12; i++)
        ts[i] = cosf(0.4f * (float)i);
    ASSERT_OK(nncl_graph_set_input(m.g, x, xs, sizeof xs));
    ASSERT_OK(nncl_graph_set_input(m.g, t, ts, sizeof ts));
    return m;
}

/* Freezing after the optimizer exists: AdamW (whose decay once moved a
 * frozen weight) leaves the frozen layer bit-identical over 10 steps while
 * the rest trains; unfreezing makes it train again. */
static void test_freeze_after_optimizer(void **state) {
    (void)state;
    tuned m = tuned_model();
    nncl_optimizer *opt;
    ASSERT_OK(nncl_optimizer_create(
        m.g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAMW, .lr = 0.01f, .weight_decay = 0.1f},
        &opt));
    ASSERT_OK(nncl_train_step(m.g, opt, m.loss, NULL));
    ASSERT_OK(nncl_graph_freeze(m.g, "res.proj", true));
    float w0[20], w1[20], b0[5], b1[5], h0[10], h1[10];
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj.weight", w0, sizeof w0));
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj.bias", b0, sizeof b0));
    ASSERT_OK(nncl_graph_param_read(m.g, "head.weight", h0, sizeof h0));
    for (int i = 0; i < 10; i++)
        ASSERT_OK(nncl_train_step(m.g, opt, m.loss, NULL));
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj.weight", w1, sizeof w1));
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj.bias", b1, sizeof b1));
    ASSERT_OK(nncl_graph_param_read(m.g, "head.weight", h1, sizeof h1));
    assert_memory_equal(w0, w1, sizeof w0);
    assert_memory_equal(b0, b1, sizeof b0);
    assert_memory_not_equal(h0, h1, sizeof h0);
    ASSERT_OK(nncl_graph_freeze(m.g, "res.proj", false));
    ASSERT_OK(nncl_train_step(m.g, opt, m.loss, NULL));
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj.weight", w1, sizeof w1));
    assert_memory_not_equal(w0, w1, sizeof w0);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(m.g);
}

/* A layer in eval mode keeps its batch-norm statistics while the graph
 * trains (bit-identical over 5 steps) and still passes gradients on. */
static void test_layer_eval_keeps_statistics(void **state) {
    (void)state;
    tuned m = tuned_model();
    nncl_optimizer *opt;
    ASSERT_OK(nncl_optimizer_create(m.g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM}, &opt));
    ASSERT_OK(nncl_train_step(m.g, opt, m.loss, NULL)); /* statistics move from their start */
    float mean0[5], var0[5], mean1[5], var1[5];
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj_bn.running_mean", mean0, sizeof mean0));
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj_bn.running_var", var0, sizeof var0));
    assert_int_equal(nncl_graph_set_layer_eval(m.g, "res.proj_b", true), NNCL_ERROR_NOT_FOUND);
    ASSERT_OK(nncl_graph_set_layer_eval(m.g, "res.proj_bn", true));
    float w0[20], w1[20];
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj.weight", w0, sizeof w0));
    for (int i = 0; i < 5; i++)
        ASSERT_OK(nncl_train_step(m.g, opt, m.loss, NULL));
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj_bn.running_mean", mean1, sizeof mean1));
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj_bn.running_var", var1, sizeof var1));
    assert_memory_equal(mean0, mean1, sizeof mean0);
    assert_memory_equal(var0, var1, sizeof var0);
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj.weight", w1, sizeof w1));
    assert_memory_not_equal(w0, w1, sizeof w0); /* gradients still flow through it */
    /* Back to training mode: the statistics move again. */
    ASSERT_OK(nncl_graph_set_layer_eval(m.g, "res.proj_bn", false));
    ASSERT_OK(nncl_train_step(m.g, opt, m.loss, NULL));
    ASSERT_OK(nncl_graph_param_read(m.g, "res.proj_bn.running_mean", mean1, sizeof mean1));
    assert_memory_not_equal(mean0, mean1, sizeof mean0);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(m.g);
}

/* Layer names are dot-separated prefixes: "res.proj" is not "res.proj_bn". */
static void test_freeze_by_layer(void **state) {
    (void)state;
    tuned m = tuned_model();
    int64_t all = nncl_graph_trainable_count(m.g);
    assert_int_equal(all, 4 * 5 + 5 + 5 + 5 + 5 * 2 + 2);
    ASSERT_OK(nncl_graph_freeze(m.g, "res.proj", true));
    assert_int_equal(nncl_graph_frozen_count(m.g), 4 * 5 + 5);
    for (size_t i = 0; i < nncl_graph_param_count(m.g); i++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(m.g, i, &info));
        bool want = !strncmp(info.name, "res.proj.", 9);
        if (info.trainable && info.frozen != want)
            fail_msg("%s: frozen %d, expected %d", info.name, info.frozen, want);
    }
    char *text;
    ASSERT_OK(nncl_graph_summary(m.g, &text));
    assert_non_null(strstr(text, "res.proj "));
    assert_non_null(strstr(text, "frozen"));
    assert_non_null(strstr(text, "Frozen params: 25"));
    nncl_free(text);
    const char *layers[] = {"res.proj_bn", "head"};
    ASSERT_OK(nncl_graph_freeze_layers(m.g, layers, 2, true));
    assert_int_equal(nncl_graph_frozen_count(m.g), all);
    const char *bad[] = {"head", "res.pro"};
    assert_int_equal(nncl_graph_freeze_layers(m.g, bad, 2, false), NNCL_ERROR_NOT_FOUND);
    assert_int_equal(nncl_graph_frozen_count(m.g), all); /* nothing changed */
    nncl_graph_destroy(m.g);
}

/* Three linear layers with the middle one frozen: the update runs over
 * two separate stretches of the packed parameters, and clipping takes the
 * norm over both. One step must give p - lr * min(1, c / |g|) * g for every
 * learning parameter, computed here from the gradients read back, and leave
 * the frozen layer alone. */
static void test_clipped_step_across_runs(void **state) {
    (void)state;
    enum { BATCH = 4, IN = 5, HID = 7, OUT = 3 };
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 3}, &g));
    nncl_node *x = nncl_input(g, "x", (nncl_shape){2, {BATCH, IN}});
    nncl_node *t = nncl_input(g, "t", (nncl_shape){2, {BATCH, OUT}});
    nncl_node *h = nncl_linear(g, x, HID, NULL, "fc1");
    h = nncl_linear(g, nncl_tanh(g, h, NULL), HID, NULL, "fc2");
    nncl_node *loss =
        nncl_mse_loss(g, nncl_linear(g, nncl_tanh(g, h, NULL), OUT, NULL, "fc3"), t, NULL, "loss");
    assert_non_null(loss);
    ASSERT_OK(nncl_graph_freeze(g, "fc2.", true));
    float xs[BATCH * IN], ts[BATCH * OUT];
    for (int i = 0; i < BATCH * IN; i++)
        xs[i] = sinf(0.7f * (float)i);
    for (int i = 0; i < BATCH * OUT; i++)
        ts[i] = cosf(1.3f * (float)i);
    ASSERT_OK(nncl_graph_set_input(g, x, xs, sizeof xs));
    ASSERT_OK(nncl_graph_set_input(g, t, ts, sizeof ts));
    const float lr = 0.5f, max_norm = 0.05f;
    nncl_optimizer *opt;
    ASSERT_OK(
        nncl_optimizer_create(g, &(nncl_optim_params){.lr = lr, .clip_grad_norm = max_norm}, &opt));
    static const char *const names[] = {"fc1.weight", "fc1.bias",   "fc2.weight",
                                        "fc2.bias",   "fc3.weight", "fc3.bias"};
    enum { N = 6, MAXP = HID * HID };
    float before[N][MAXP], after[N][MAXP], grad[N][MAXP];
    size_t count[N];
    for (int i = 0; i < N; i++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(g, (size_t)i, &info));
        assert_string_equal(info.name, names[i]);
        count[i] = (size_t)nncl_shape_numel(info.shape);
        ASSERT_OK(nncl_graph_param_read(g, names[i], before[i], count[i] * sizeof(float)));
    }
    ASSERT_OK(nncl_train_step(g, opt, loss, NULL));
    double norm = 0;
    for (int i = 0; i < N; i++) {
        ASSERT_OK(nncl_graph_param_read(g, names[i], after[i], count[i] * sizeof(float)));
        ASSERT_OK(nncl_graph_grad_read(g, names[i], grad[i], count[i] * sizeof(float)));
        for (size_t k = 0; k < count[i]; k++)
            norm += (double)grad[i][k] * grad[i][k];
    }
    double scale = fmin(1.0, max_norm / (sqrt(norm) + 1e-6));
    assert_true(scale < 0.5); /* clipping is in force */
    for (int i = 0; i < N; i++) {
        bool frozen = i == 2 || i == 3;
        double want[MAXP];
        for (size_t k = 0; k < count[i]; k++) {
            if (frozen) assert_true(grad[i][k] == 0.0f);
            want[k] = before[i][k] - (frozen ? 0.0 : lr * scale * grad[i][k]);
        }
        assert_close(names[i], after[i], want, (int64_t)count[i], 1e-5, 1e-7);
    }
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
}

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Normal initial values follow N(0, 1) in shape, not just in spread: the
 * Kolmogorov-Smirnov distance of 200000 samples from the normal CDF below
 * its 0.1% critical value, and the tail beyond 3.4426 (the ziggurat's
 * base layer, drawn by a method of its own) as often as it should be. */
static void test_normal_samples_distribution(void **state) {
    (void)state;
    enum { N = 200000 };
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 11}, &g));
    nncl_parameter(g, "p", NNCL_SHAPE(N), NNCL_INIT_NORMAL, 1.0f);
    float *v = malloc(N * sizeof *v);
    ASSERT_OK(nncl_graph_param_read(g, "p", v, N * sizeof *v));
    nncl_graph_destroy(g);
    qsort(v, N, sizeof *v, compare_floats);
    double d = 0;
    int tail = 0;
    for (int i = 0; i < N; i++) {
        double cdf = 0.5 * erfc(-v[i] / sqrt(2.0));
        d = fmax(d, fmax(fabs(cdf - (double)i / N), fabs(cdf - (double)(i + 1) / N)));
        tail += fabs(v[i]) > 3.442619855899;
    }
    free(v);
    if (d > 1.95 / sqrt((double)N)) fail_msg("Kolmogorov-Smirnov distance %g", d);
    double expected = erfc(3.442619855899 / sqrt(2.0)) * N; /* 2 (1 - Phi(r)) N */
    if (fabs(tail - expected) > 5 * sqrt(expected))
        fail_msg("%d samples beyond 3.4426, expected %.0f", tail, expected);
}

/* Each initialiser's spread: the sample standard deviation of a large
 * weight against the rule's, the share within one standard deviation
 * (0.683 for a normal, 0.577 for a uniform) and no correlation between
 * neighbouring weights. */
static void test_initialisers(void **state) {
    (void)state;
    const int64_t c_in = 32, c_out = 48, k = 3;
    const double fan_in = (double)(c_in * k * k), fan_out = (double)(c_out * k * k);
    static const struct {
        nncl_init init;
        double std_factor; /* std = sqrt(std_factor) */
        bool fans_sum;
    } cases[] = {{NNCL_INIT_DEFAULT, 2, false},
                 {NNCL_INIT_KAIMING_NORMAL, 2, false},
                 {NNCL_INIT_KAIMING_UNIFORM, 2, false},
                 {NNCL_INIT_XAVIER_NORMAL, 2, true},
                 {NNCL_INIT_XAVIER_UNIFORM, 2, true}};
    size_t n = (size_t)(c_in * c_out * k * k);
    float *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, c_in, 8, 8));
        nncl_conv(
            g, x,
            &(nncl_conv_params){.out_channels = c_out, .kernel = {k, k}, .init = cases[i].init},
            "c");
        ASSERT_OK(nncl_graph_param_read(g, "c.weight", w, n * sizeof *w));
        double want = sqrt(cases[i].std_factor / (cases[i].fans_sum ? fan_in + fan_out : fan_in));
        double sum = 0, sq = 0, max = 0, lag = 0;
        size_t within = 0;
        for (size_t j = 0; j < n; j++) {
            sum += w[j];
            sq += (double)w[j] * w[j];
            if (fabs(w[j]) > max) max = fabs(w[j]);
            within += fabs(w[j]) < want;
            if (j) lag += (double)w[j] * w[j - 1];
        }
        double std = sqrt(sq / (double)n - (sum / (double)n) * (sum / (double)n));
        if (fabs(std - want) / want > 0.03)
            fail_msg("init %d: std %g, expected %g", (int)cases[i].init, std, want);
        bool uniform =
            cases[i].init == NNCL_INIT_KAIMING_UNIFORM || cases[i].init == NNCL_INIT_XAVIER_UNIFORM;
        if (uniform) assert_true(max <= sqrt(3.0) * want * 1.0001); /* bound of U(-b, b) */
        /* Tolerances: 5 standard errors at n = 13824. */
        double share = (double)within / (double)n, share_want = uniform ? 0.5774 : 0.6827;
        if (fabs(share - share_want) > 0.021)
            fail_msg("init %d: %.3f within one std, expected %.3f", (int)cases[i].init, share,
                     share_want);
        double corr = lag / (double)(n - 1) / (std * std);
        if (fabs(corr) > 0.043)
            fail_msg("init %d: neighbour correlation %.3f", (int)cases[i].init, corr);
        nncl_graph_destroy(g);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 5));
    nncl_linear(g, x, 3, &(nncl_linear_params){.init = NNCL_INIT_CONSTANT, .init_value = 0.25f},
                "a");
    nncl_linear(g, x, 3, &(nncl_linear_params){.init = NNCL_INIT_ZEROS}, "b");
    float a[15], b[15];
    ASSERT_OK(nncl_graph_param_read(g, "a.weight", a, sizeof a));
    ASSERT_OK(nncl_graph_param_read(g, "b.weight", b, sizeof b));
    for (int i = 0; i < 15; i++)
        assert_true(a[i] == 0.25f && b[i] == 0.0f);
    nncl_graph_destroy(g);
    free(w);
}

static void test_optimizer_argument_checks(void **state) {
    (void)state;
    model m = linear_model();
    nncl_optimizer *opt = NULL;
    static const nncl_optim_params bad[] = {
        {.kind = NNCL_OPTIM_SGD},                               /* no lr */
        {.kind = NNCL_OPTIM_SGD, .lr = 0.1f, .nesterov = true}, /* no momentum */
        {.kind = NNCL_OPTIM_ADAM, .beta1 = 1.5f},               /* beta >= 1 */
        {.kind = NNCL_OPTIM_RMSPROP, .weight_decay = -1.0f},    /* negative */
        {.kind = (nncl_optim_kind)42},                          /* unknown */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nncl_optimizer_create(m.g, &bad[i], &opt), NNCL_ERROR_INVALID_ARGUMENT);
        assert_null(opt);
    }
    ASSERT_OK(nncl_optimizer_create(m.g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM}, &opt));
    assert_float_equal(nncl_optimizer_lr(opt), 1e-3f, 1e-9);
    nncl_optimizer_destroy(opt);
    nncl_optimizer_destroy(NULL);
    nncl_graph_destroy(m.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimizers_match_torch),
        cmocka_unit_test(test_schedules_match_torch),
        cmocka_unit_test(test_frozen_parameters),
        cmocka_unit_test(test_clipped_step_across_runs),
        cmocka_unit_test(test_freeze_after_optimizer),
        cmocka_unit_test(test_freeze_by_layer),
        cmocka_unit_test(test_layer_eval_keeps_statistics),
        cmocka_unit_test(test_initialisers),
        cmocka_unit_test(test_normal_samples_distribution),
        cmocka_unit_test(test_optimizer_argument_checks),
    };
    return cmocka_run_group_tests(tests, torch_data_load, torch_data_unload);
}

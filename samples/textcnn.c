/* Sentence classification with a TextCNN (Kim 2014): token ids pass through
 * an embedding, convolutions of widths 3, 4 and 5 over the sentence, a max
 * over time, dropout and a linear layer. The corpus is generated: random
 * sentences of 12 to 24 tokens (padded with id 0) over a vocabulary of
 * 200, and each class plants one of its own three-token phrases somewhere
 * in the sentence; the phrases share their tokens with other classes' and
 * with the filler, so only the order of three neighbours tells the class.
 *
 *   usage: textcnn [--quick] [--export DIR]
 *   --quick: 40 steps, exits 1 unless the loss falls; --export DIR: writes
 *   the generated sentences for nncl-train (--model textcnn --data DIR).
 */
#include "export.h"

#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VOCAB = 200, LEN = 24, EMBED = 32, FILTERS = 16, CLASSES = 4, BATCH = 64 };
enum { PHRASES = 3, TEST_BATCHES = 16 };

/* Class c's phrases: three tokens each, drawn from 12 shared tokens. */
static int32_t phrases[CLASSES][PHRASES][3];

static unsigned rnd(unsigned *state, unsigned n) {
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) % n;
}

/* Distinct ordered triples of the 12 shared tokens, so that no two
 * classes plant the same phrase. */
static void make_phrases(void) {
    unsigned rng = 99;
    for (int i = 0; i < CLASSES * PHRASES; i++) {
        int32_t *p = phrases[i / PHRASES][i % PHRASES];
        bool taken;
        do {
            for (int k = 0; k < 3; k++)
                p[k] = 1 + (int32_t)rnd(&rng, 12);
            taken = false;
            for (int j = 0; j < i; j++)
                taken |= !memcmp(p, phrases[j / PHRASES][j % PHRASES], 3 * sizeof *p);
        } while (taken);
    }
}

static void make_batch(int32_t *ids, int32_t *labels, unsigned *rng) {
    for (int n = 0; n < BATCH; n++) {
        int32_t *s = ids + n * LEN;
        int len = 12 + (int)rnd(rng, LEN - 11), c = (int)rnd(rng, CLASSES);
        labels[n] = c;
        for (int t = 0; t < LEN; t++) /* filler uses the phrase tokens too */
            s[t] = t < len ? 1 + (int32_t)rnd(rng, rnd(rng, 4) ? VOCAB - 1 : 12) : 0;
        const int32_t *p = phrases[c][rnd(rng, PHRASES)];
        int at = (int)rnd(rng, (unsigned)(len - 2));
        memcpy(s + at, p, 3 * sizeof *p);
    }
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "textcnn: %s: %s\n", what, nncl_last_error());
    exit(1);
}

/* make_batch with the ids as floats, as datasets hold samples. */
static void make_float_batch(float *x, int32_t *labels, unsigned *rng) {
    int32_t ids[BATCH * LEN];
    make_batch(ids, labels, rng);
    for (int i = 0; i < BATCH * LEN; i++)
        x[i] = (float)ids[i];
}

/* --export DIR: 8192 training and 1024 test samples as nncl-train reads them
 * (nncl-train --model textcnn --data DIR). */
static int export_data(const char *dir) {
    return export_generated(dir, BATCH, (const int[2]){128, 16}, NNCL_SHAPE(1, LEN), false,
                            make_float_batch);
}

int main(int argc, char **argv) {
    make_phrases();
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--export") && i + 1 < argc)
            return export_data(argv[++i]);
        else {
            fprintf(stderr, "usage: textcnn [--quick] [--export DIR]\n");
            return 2;
        }
    }
    int steps = quick ? 40 : 600;
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 2}, &g), "graph");
    nncl_node *ids = nncl_input_labels_nd(g, "tokens", NNCL_SHAPE(BATCH, LEN));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *e = nncl_embedding(
        g, ids, VOCAB, EMBED, &(nncl_embedding_params){.has_padding_idx = true, .padding_idx = 0},
        "embedding");
    e = nncl_permute(g, e, (const int32_t[]){0, 2, 1}, NULL); /* [N, L, E] -> [N, E, L] */
    nncl_node *branches[3];
    for (int w = 0; w < 3; w++) {
        char name[16];
        snprintf(name, sizeof name, "conv%d", w + 3);
        nncl_node *h =
            nncl_conv(g, e, &(nncl_conv_params){.out_channels = FILTERS, .kernel = {w + 3}}, name);
        branches[w] = nncl_global_max_pool(g, nncl_relu(g, h, NULL), NULL); /* max over time */
    }
    nncl_node *h = nncl_flatten(g, nncl_concat(g, branches, 3, "features"), NULL);
    nncl_node *logits = nncl_linear(g, nncl_dropout(g, h, 0.5f, "dropout"), CLASSES, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "textcnn: %s\n", nncl_graph_error(g));
        return 1;
    }
    char *summary;
    check(nncl_graph_summary(g, &summary), "summary");
    fputs(summary, stdout);
    nncl_free(summary);
    nncl_optimizer *opt;
    check(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 0.005f}, &opt),
        "optimizer");

    static int32_t tokens[BATCH * LEN], labels[BATCH];
    unsigned rng = 3;
    double first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        make_batch(tokens, labels, &rng);
        check(nncl_graph_set_input(g, ids, tokens, sizeof tokens), "tokens");
        check(nncl_graph_set_input(g, y, labels, sizeof labels), "labels");
        float value;
        check(nncl_train_step(g, opt, loss, &value), "training step");
        if (step < 10) first += value / 10;
        if (step >= steps - 10) last += value / 10;
        if (step % 100 == 0 || step == steps - 1) printf("step %3d: loss %.4f\n", step, value);
    }
    printf("mean loss over the first 10 steps %.4f, over the last 10 %.4f\n", first, last);
    int status = quick && !(last < first); /* --quick: the loss must fall */
    if (quick) goto done;

    int right = 0;
    rng = 4242;
    for (int t = 0; t < TEST_BATCHES; t++) {
        make_batch(tokens, labels, &rng);
        check(nncl_graph_set_input(g, ids, tokens, sizeof tokens), "tokens");
        float out[BATCH * CLASSES];
        check(nncl_graph_infer(g, logits, out, sizeof out), "inference");
        for (int n = 0; n < BATCH; n++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                if (out[n * CLASSES + c] > out[n * CLASSES + best]) best = c;
            right += best == labels[n];
        }
    }
    printf("test accuracy on %d unseen sentences: %.1f%%\n", TEST_BATCHES * BATCH,
           100.0 * right / (TEST_BATCHES * BATCH));
done:
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return status;
}

/* Graph classification with a graph convolutional network (Kipf & Welling
 * 2017): generated graphs of 5 to 12 nodes are cycles, stars or cliques,
 * with a few edges added or dropped at random; each node starts with only
 * [1, degree / 10]. Two graph convolutions, a max readout per graph and a
 * linear layer learn to tell the shapes apart. Sixteen graphs go through
 * each step as one block-diagonal graph.
 *
 *   usage: gcn [--quick]    (--quick: 40 steps, exits 1 unless the loss falls)
 */
#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GRAPHS = 16, MAX_N = 12, NODES = GRAPHS * MAX_N, EDGES = GRAPHS * MAX_N * (MAX_N - 1) };
enum { HIDDEN = 16, CLASSES = 3, TEST_BATCHES = 16 };
static const char *const class_names[CLASSES] = {"cycle", "star", "clique"};

static unsigned rnd(unsigned *state, unsigned n) {
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) % n;
}

/* A batch of graphs: CSR rows over all nodes, each node's graph, features
 * and one label per graph. */
typedef struct batch {
    int32_t row_ptr[NODES + 1], col[EDGES], node_graph[NODES], labels[GRAPHS];
    float features[NODES * 2];
    int64_t nodes;
} batch;

static void make_batch(batch *b, unsigned *rng) {
    static bool adj[MAX_N][MAX_N];
    int64_t at = 0, edges = 0;
    b->row_ptr[0] = 0;
    for (int gr = 0; gr < GRAPHS; gr++) {
        int n = 5 + (int)rnd(rng, MAX_N - 4), kind = (int)rnd(rng, CLASSES);
        b->labels[gr] = kind;
        memset(adj, 0, sizeof adj);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                adj[i][j] = i != j && (kind == 0   ? (j == (i + 1) % n || i == (j + 1) % n)
                                       : kind == 1 ? (i == 0 || j == 0)
                                                   : true);
        for (int flips = 0; flips < 2; flips++) { /* noise: one edge toggled, both ways */
            int i = (int)rnd(rng, (unsigned)n), j = (int)rnd(rng, (unsigned)n);
            if (i != j) adj[i][j] = adj[j][i] = !adj[i][j];
        }
        for (int i = 0; i < n; i++, at++) {
            int degree = 0;
            for (int j = 0; j < n; j++)
                if (adj[i][j]) {
                    b->col[edges++] = (int32_t)(at - i + j);
                    degree++;
                }
            b->row_ptr[at + 1] = (int32_t)edges;
            b->node_graph[at] = gr;
            b->features[2 * at] = 1.0f;
            b->features[2 * at + 1] = (float)degree / 10.0f;
        }
    }
    b->nodes = at;
    memset(b->features + 2 * at, 0, (size_t)(NODES - at) * 2 * sizeof(float));
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "gcn: %s: %s\n", what, nncl_last_error());
    exit(1);
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    int steps = quick ? 40 : 400;
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 5}, &g), "graph");
    nncl_node *adj = nncl_input_graph(g, "adjacency", NODES, EDGES, GRAPHS);
    nncl_node *x = nncl_input(g, "features", NNCL_SHAPE(NODES, 2));
    nncl_node *y = nncl_input_labels(g, "label", GRAPHS);
    nncl_node *h = nncl_relu(g, nncl_graph_conv(g, x, adj, HIDDEN, NULL, "gc1"), NULL);
    h = nncl_relu(g, nncl_graph_conv(g, h, adj, HIDDEN, NULL, "gc2"), NULL);
    h = nncl_graph_readout(g, h, adj, NNCL_READOUT_MAX, "readout");
    nncl_node *logits = nncl_linear(g, h, CLASSES, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "gcn: %s\n", nncl_graph_error(g));
        return 1;
    }
    char *summary;
    check(nncl_graph_summary(g, &summary), "summary");
    fputs(summary, stdout);
    nncl_free(summary);
    nncl_optimizer *opt;
    check(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 0.01f}, &opt),
        "optimizer");

    static batch b;
    unsigned rng = 11;
    double first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        make_batch(&b, &rng);
        check(nncl_graph_set_adjacency(g, adj, b.nodes, b.row_ptr, b.col, b.node_graph),
              "adjacency");
        check(nncl_graph_set_input(g, x, b.features, sizeof b.features), "features");
        check(nncl_graph_set_input(g, y, b.labels, sizeof b.labels), "labels");
        float value;
        check(nncl_train_step(g, opt, loss, &value), "training step");
        if (step < 10) first += value / 10;
        if (step >= steps - 10) last += value / 10;
        if (step % 50 == 0 || step == steps - 1) printf("step %3d: loss %.4f\n", step, value);
    }
    printf("mean loss over the first 10 steps %.4f, over the last 10 %.4f\n", first, last);
    int status = quick && !(last < first); /* --quick: the loss must fall */
    if (quick) goto done;

    /* Graphs it has never seen: accuracy per class. */
    int right[CLASSES] = {0}, seen[CLASSES] = {0};
    rng = 777;
    for (int t = 0; t < TEST_BATCHES; t++) {
        make_batch(&b, &rng);
        check(nncl_graph_set_adjacency(g, adj, b.nodes, b.row_ptr, b.col, b.node_graph),
              "adjacency");
        check(nncl_graph_set_input(g, x, b.features, sizeof b.features), "features");
        float out[GRAPHS * CLASSES];
        check(nncl_graph_infer(g, logits, out, sizeof out), "inference");
        for (int gr = 0; gr < GRAPHS; gr++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                if (out[gr * CLASSES + c] > out[gr * CLASSES + best]) best = c;
            seen[b.labels[gr]]++;
            right[b.labels[gr]] += best == b.labels[gr];
        }
    }
    int total = 0;
    for (int c = 0; c < CLASSES; c++) {
        printf("%-7s %3d of %3d right\n", class_names[c], right[c], seen[c]);
        total += right[c];
    }
    printf("test accuracy on %d unseen graphs: %.1f%%\n", TEST_BATCHES * GRAPHS,
           100.0 * total / (TEST_BATCHES * GRAPHS));
done:
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return status;
}

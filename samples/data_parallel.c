/* Data-parallel training from C: every process (rank) started by mpirun
 * builds the same CNN on its own device, trains on its shard of each global
 * batch, and nncl_dist averages the gradients, so all ranks take the same
 * steps. Rank 0 prints the epochs (loss and accuracy summed over ranks) and
 * writes the checkpoint. The data: 16x16 images of horizontal or vertical
 * stripes at a random phase, with noise. Exits 0 when the test accuracy
 * reaches 95%.
 *
 *   usage: mpirun -np N data_parallel [--sync-bn] [--out DIR]
 */
#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S = 16, TRAIN = 2048, TEST = 512, BATCH = 32, EPOCHS = 3 };

static int rank;

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "data_parallel (rank %d): %s: %s\n", rank, what, nncl_last_error());
    exit(1); /* without MPI_Finalize: mpirun then ends every rank */
}

/* count images: class 0 horizontal stripes, class 1 vertical. */
static nncl_dataset *stripes(int count, unsigned seed) {
    uint8_t *img = malloc((size_t)count * S * S);
    int32_t *labels = malloc((size_t)count * sizeof *labels);
    for (int n = 0; n < count; n++) {
        seed = seed * 1103515245u + 12345u;
        int cls = (int)(seed >> 16) % 2, phase = (int)(seed >> 20) % 4;
        labels[n] = cls;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                seed = seed * 1103515245u + 12345u;
                int bright = ((cls ? x : y) + phase) / 2 % 2;
                img[(n * S + y) * S + x] = (uint8_t)((bright ? 190 : 50) + (int)(seed >> 24) % 60);
            }
    }
    nncl_dataset *ds;
    check(nncl_dataset_create(img, labels, count, 1, S, S, &ds), "dataset");
    free(img);
    free(labels);
    return ds;
}

int main(int argc, char **argv) {
    bool sync_bn = false;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sync-bn"))
            sync_bn = true;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else {
            fprintf(stderr, "usage: mpirun -np N data_parallel [--sync-bn] [--out DIR]\n");
            return 2;
        }
    }
    nncl_dist *dist;
    check(nncl_dist_create(&(nncl_dist_options){.sync_batch_norm = sync_bn}, &dist), "MPI");
    rank = nncl_dist_rank(dist);
    int ranks = nncl_dist_size(dist);
    char device[64];
    check(nncl_dist_device(dist, device, sizeof device), "device");
    nncl_context *ctx;
    check(nncl_context_create(&(nncl_context_options){.device = *device ? device : NULL}, &ctx),
          "device");

    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 1}, &g), "graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(BATCH, 1, S, S));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 8, .kernel = {3, 3}, .padding = {1, 1}}, "c1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn1"), NULL);
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool");
    h = nncl_conv(g, h, &(nncl_conv_params){.out_channels = 16, .kernel = {3, 3}}, "c2");
    h = nncl_global_avg_pool(g, nncl_relu(g, h, NULL), "gap");
    nncl_node *logits = nncl_linear(g, nncl_flatten(g, h, NULL), 2, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    check(nncl_graph_status(g), "building the model");
    nncl_optimizer *opt;
    check(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 0.01f}, &opt),
        "optimizer");
    check(nncl_dist_attach(dist, g), "data-parallel setup"); /* rank 0's weights everywhere */

    nncl_dataset *train = stripes(TRAIN, 1), *test = stripes(TEST, 2);
    nncl_loader *train_loader, *test_loader;
    nncl_loader_options o = {.batch = BATCH,
                             .shuffle = true,
                             .seed = 5,
                             .shard = rank,
                             .shards = ranks,
                             .mean = 0.5f,
                             .std = 0.25f};
    check(nncl_loader_create(train, &o, &train_loader), "loader");
    o.shuffle = false;
    check(nncl_loader_create(test, &o, &test_loader), "loader");
    if (rank == 0)
        printf("%d process%s, global batch %d (%d each)%s\n", ranks, ranks > 1 ? "es" : "",
               ranks * BATCH, BATCH, sync_bn ? ", batch norm over the global batch" : "");

    double accuracy = 0;
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        double sums[4] = {0}; /* loss, steps, right, seen */
        int64_t valid;
        while (nncl_loader_next(train_loader, g, x, y, &valid) == NNCL_OK && valid) {
            float value;
            check(nncl_train_step(g, opt, loss, &value), "training step");
            sums[0] += value;
            sums[1] += 1;
        }
        nncl_graph_set_training(g, false);
        while (nncl_loader_next(test_loader, g, x, y, &valid) == NNCL_OK && valid) {
            float scores[BATCH * 2];
            int32_t labels[BATCH];
            check(nncl_graph_infer(g, logits, scores, sizeof scores), "evaluation");
            check(nncl_graph_read_labels(g, y, labels, sizeof labels), "evaluation");
            for (int64_t n = 0; n < valid; n++) /* the rest of a final batch is padding */
                sums[2] += (scores[2 * n + 1] > scores[2 * n]) == (labels[n] == 1);
            sums[3] += (double)valid;
        }
        nncl_graph_set_training(g, true);
        check(nncl_dist_sum(dist, sums, 4), "epoch figures");
        accuracy = sums[2] / sums[3];
        if (rank == 0)
            printf("epoch %d/%d  loss %.4f  test accuracy %.2f%%\n", epoch, EPOCHS,
                   sums[0] / sums[1], 100 * accuracy);
    }
    nncl_dist_stats stats;
    check(nncl_dist_stats_get(dist, &stats), "statistics");
    if (rank == 0)
        printf("gradients: %.2f MiB in %lld buckets per step, allreduce %.2f ms per step, %.2f ms "
               "of it not hidden by backward\n",
               (double)stats.bytes / 1048576.0, (long long)stats.buckets,
               1e3 * stats.reduce_seconds / (double)stats.steps,
               1e3 * stats.wait_seconds / (double)stats.steps);
    if (out) {
        char path[1024];
        snprintf(path, sizeof path, "%s/data_parallel.safetensors", out);
        check(nncl_dist_save(dist, g, opt, path, NULL, 0), "saving");
        if (rank == 0) printf("checkpoint: %s\n", path);
    }
    nncl_loader_destroy(train_loader);
    nncl_loader_destroy(test_loader);
    nncl_dataset_destroy(train);
    nncl_dataset_destroy(test);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    nncl_dist_destroy(dist); /* MPI_Finalize: nncl_dist_create initialised MPI */
    return accuracy >= 0.95 ? 0 : 1;
}

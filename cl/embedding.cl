/* Embedding lookup (PyTorch's nn.Embedding): y[p, :] = w[ids[p], :]. The
 * weight gradient adds each position's gradient row into its id's row;
 * positions arrive grouped by id (sorted on the host), so one work-item
 * per (id, column) sums its positions in order: no atomics, and the same
 * sum on every run. */

__kernel void embedding_forward(__global const int *ids, __global const float *w,
                                __global float *y, int total, int dim) {
    int i = get_global_id(0);
    if (i >= total) return;
    y[i] = w[(long)ids[i / dim] * dim + i % dim];
}

/* Group u holds positions order[starts[u] .. starts[u + 1]) of id
 * unique_ids[u]; the padding index's group adds nothing. */
__kernel void embedding_backward(__global const float *dy, __global const int *order,
                                 __global const int *unique_ids, __global const int *starts,
                                 __global float *dw, int groups, int dim, int padding_idx) {
    int i = get_global_id(0);
    if (i >= groups * dim) return;
    int u = i / dim, e = i % dim, id = unique_ids[u];
    if (id == padding_idx) return;
    float s = 0.0f;
    for (int k = starts[u]; k < starts[u + 1]; k++)
        s += dy[(long)order[k] * dim + e];
    dw[(long)id * dim + e] += s;
}

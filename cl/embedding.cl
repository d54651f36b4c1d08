/* Embedding lookup (PyTorch's nn.Embedding): y[p, :] = w[ids[p], :]. The
 * weight gradient adds each position's gradient row into its id's row;
 * positions arrive grouped by id (sorted on the host), so one work-item
 * per (id, column) sums its positions in order: no atomics, and the same
 * sum on every run. */

/* One work-item per id, copying its row. */
__kernel void embedding_forward(__global const int *ids, __global const float *w,
                                __global float *y, int count, int dim) {
    int i = get_global_id(0);
    if (i >= count) return;
    __global const float *row = w + (long)ids[i] * dim;
    __global float *out = y + (long)i * dim;
    for (int e = 0; e < dim; e++)
        out[e] = row[e];
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

/* PyTorch's max_norm: each row looked up whose p-norm exceeds max_norm is
 * scaled, in place, to max_norm / (norm + 1e-7) of itself. One work-item
 * per distinct id. */
__kernel void embedding_renorm(__global float *w, __global const int *unique_ids, int count,
                               int dim, float max_norm, float norm_type) {
    int u = get_global_id(0);
    if (u >= count) return;
    __global float *row = w + (long)unique_ids[u] * dim;
    float s = 0.0f;
    for (int e = 0; e < dim; e++)
        s += norm_type == 2.0f ? row[e] * row[e] : pow(fabs(row[e]), norm_type);
    float norm = norm_type == 2.0f ? sqrt(s) : pow(s, 1.0f / norm_type);
    if (norm <= max_norm) return;
    float scale = max_norm / (norm + 1e-7f);
    for (int e = 0; e < dim; e++)
        row[e] *= scale;
}

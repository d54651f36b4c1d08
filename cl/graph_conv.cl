/* Graph convolution (Kipf & Welling 2017) over a batch of graphs held as one
 * block-diagonal sparse matrix in CSR form: y = A_hat t + b with
 * t = h W^T, and per-graph readouts. A_hat's rows come normalised from the
 * host (lib/ops/graph_input.c); its transpose is stored beside it for
 * backward, so both directions are gathers. */

/* y[i, f] = sum over row i of val * t[col, f] (+ bias[f]); the columns
 * follow the row pointers in csr, from col_offset. */
__kernel void csr_spmm(__global const int *csr, int col_offset, __global const float *val,
                       __global const float *t, __global const float *bias, __global float *y,
                       int nodes, int features, int has_bias, int accumulate) {
    int i = get_global_id(0);
    if (i >= nodes * features) return;
    __global const int *row_ptr = csr, *col = csr + col_offset;
    int r = i / features, f = i % features;
    float s = has_bias ? bias[f] : 0.0f;
    for (int k = row_ptr[r]; k < row_ptr[r + 1]; k++)
        s += val[k] * t[(long)col[k] * features + f];
    y[i] = accumulate ? y[i] + s : s;
}

/* Readout per (graph, feature) over the graph's nodes (members[starts[g]
 * .. starts[g + 1]), starts from starts_offset in the same buffer): 0 sum,
 * 1 mean (0 for an empty graph), 2 max (which node won kept in argmax; an
 * empty graph gives 0). */
__kernel void graph_readout_forward(__global const float *h, __global const int *members,
                                    int starts_offset, __global float *y, __global int *argmax,
                                    int graphs, int features, int mode) {
    int i = get_global_id(0);
    if (i >= graphs * features) return;
    __global const int *starts = members + starts_offset;
    int gr = i / features, f = i % features, begin = starts[gr], end = starts[gr + 1];
    float acc = mode == 2 ? -INFINITY : 0.0f;
    int best = -1;
    for (int k = begin; k < end; k++) {
        float v = h[(long)members[k] * features + f];
        if (mode != 2) {
            acc += v;
        } else if (v > acc || best < 0) {
            acc = v;
            best = members[k];
        }
    }
    if (mode == 1 && end > begin) acc /= (float)(end - begin);
    if (end == begin) acc = 0.0f;
    y[i] = acc;
    if (mode == 2) argmax[i] = best;
}

/* dh[n, f]: the gradient of node n's graph's readout (none for padding
 * nodes, graph -1). */
__kernel void graph_readout_backward(__global const float *dy, __global const int *node_graph,
                                     __global const int *groups, int starts_offset,
                                     __global const int *argmax, __global float *dh, int nodes,
                                     int features, int mode, int accumulate) {
    int i = get_global_id(0);
    if (i >= nodes * features) return;
    __global const int *starts = groups + starts_offset;
    int n = i / features, f = i % features, gr = node_graph[n];
    float g = 0.0f;
    if (gr >= 0) {
        float up = dy[(long)gr * features + f];
        int count = starts[gr + 1] - starts[gr];
        g = mode == 0 ? up : mode == 1 ? up / (float)count
                                       : (argmax[(long)gr * features + f] == n ? up : 0.0f);
    }
    dh[i] = accumulate ? dh[i] + g : g;
}

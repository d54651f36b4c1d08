/* Convolution by im2col + GEMM, for any layer: images go through in chunks,
 * the input unfolded once per chunk and one GEMM per group producing
 * channel-major results, then one permutation into NCHW (on the packed
 * path, images of whole panels of positions get their products written in
 * place instead). On the packed GEMM path the forward product and the
 * weight gradient get the unfolded input written straight in their packed
 * operand's layout (saving a pass over the largest matrix); on CLBlast's,
 * columns for the forward product and rows for the weight gradient (no
 * transposed operands). The input gradient is a GEMM into columns that
 * col2im folds back. */
#include "conv.h"

/* Columns per group, with room for whole panels of the packed layout. */
static size_t padded_kg(const conv_dims *d) {
    return (d->kg + NNCL_GEMM_MAX_PANEL - 1) / NNCL_GEMM_MAX_PANEL * NNCL_GEMM_MAX_PANEL;
}

/* Images per pass, so columns + channel-major outputs fit the limit. */
static size_t chunk_of(const conv_dims *d) {
    size_t per_image = (d->groups * padded_kg(d) + d->c_out) * d->spatial_out * sizeof(float);
    size_t chunk = NNCL_CONV_WORKSPACE_LIMIT / per_image;
    if (chunk < 1) chunk = 1;
    return chunk < d->batch ? chunk : d->batch;
}

/* Room for every group's unfolded input in any of the layouts: columns,
 * rows, or packed with whole panels of rows (the weight gradient's) or of
 * positions (the forward product's). */
static size_t cols_floats(const conv_dims *d, size_t nb) {
    size_t positions =
        (nb * d->spatial_out + NNCL_GEMM_MAX_PANEL - 1) / NNCL_GEMM_MAX_PANEL * NNCL_GEMM_MAX_PANEL;
    return d->groups * padded_kg(d) * positions;
}

static nncl_status launch_im2col(nncl_graph *g, const nncl_window *w, const conv_dims *d, cl_mem x,
                                 size_t first, size_t nb) {
    cl_uint x_off = (cl_uint)(first * d->c_in * d->spatial_in);
    cl_int total = (cl_int)(d->c_in * d->kvol * nb *
                            (size_t)(w->out[0] * w->out[1])); /* rows of out[2] columns */
    cl_int batch = (cl_int)nb;
    cl_int4 in = nncl_int4(w->in), out = nncl_int4(w->out), k = nncl_int4(w->kernel),
            stride = nncl_int4(w->stride), pad = nncl_int4(w->pad_begin),
            dil = nncl_int4(w->dilation);
    return nncl_launch(g->ctx, "im2col", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(x_off), NNCL_ARG(g->workspace),
                                 NNCL_ARG(total), NNCL_ARG(batch), NNCL_ARG(in), NNCL_ARG(out),
                                 NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil)));
}

/* The layouts the unfold kernel writes (conv.cl): plain rows
 * [positions x C_in * K] (CLBlast's weight gradient), and the packed
 * GEMM's B, each group's [kg x positions] in panels of positions (the
 * forward product) or [positions x kg] in panels of columns (the weight
 * gradient's). */
typedef enum unfold_layout {
    UNFOLD_ROWS,
    UNFOLD_PACKED_FORWARD,
    UNFOLD_PACKED_WEIGHTS
} unfold_layout;

/* Floats from one group's packed B to the next's. */
static size_t group_floats(const nncl_graph *g, const conv_dims *d, size_t nb,
                           unfold_layout layout) {
    size_t width = nncl_gemm_panel_width(g->ctx), positions = nb * d->spatial_out;
    if (layout == UNFOLD_PACKED_FORWARD) return d->kg * ((positions + width - 1) / width * width);
    return (d->kg + width - 1) / width * width * positions;
}

/* Blocks of positions per unfold work-item: enough to pay its setup's
 * divisions many times over, few enough for many work-items. */
enum { UNFOLD_BLOCKS = 8 };

static nncl_status launch_unfold(nncl_graph *g, const nncl_window *w, const conv_dims *d, cl_mem x,
                                 size_t first, size_t nb, unfold_layout layout) {
    cl_uint x_off = (cl_uint)(first * d->c_in * d->spatial_in);
    size_t width = nncl_gemm_panel_width(g->ctx), positions = nb * d->spatial_out;
    cl_int total = (cl_int)positions, channels = (cl_int)d->c_in, row = (cl_int)(d->c_in * d->kvol);
    cl_int panel = (cl_int)width, panels = UNFOLD_BLOCKS, kg = (cl_int)d->kg;
    cl_long group = (cl_long)group_floats(g, d, nb, layout);
    /* A value's place: the strides of its row and of its position. */
    cl_int col_panel = kg, col_step = 1, pos_step = row;
    cl_long col_jump = 0, pos_jump = (cl_long)width * row;
    if (layout == UNFOLD_ROWS) {
        kg = col_panel = row;
    } else if (layout == UNFOLD_PACKED_FORWARD) {
        col_step = panel, pos_step = 1, pos_jump = (cl_long)kg * panel;
    } else {
        col_panel = panel, col_jump = (cl_long)positions * panel;
        pos_step = panel, pos_jump = (cl_long)panel * panel;
    }
    cl_int4 in = nncl_int4(w->in), out = nncl_int4(w->out), k = nncl_int4(w->kernel),
            stride = nncl_int4(w->stride), pad = nncl_int4(w->pad_begin),
            dil = nncl_int4(w->dilation);
    size_t per_item = UNFOLD_BLOCKS * width;
    size_t items = (positions + per_item - 1) / per_item * (size_t)row;
    return nncl_launch(g->ctx, "unfold", items,
                       NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(x_off), NNCL_ARG(g->workspace),
                                 NNCL_ARG(total), NNCL_ARG(channels), NNCL_ARG(in), NNCL_ARG(out),
                                 NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil),
                                 NNCL_ARG(kg), NNCL_ARG(group), NNCL_ARG(col_panel),
                                 NNCL_ARG(col_jump), NNCL_ARG(col_step), NNCL_ARG(panel),
                                 NNCL_ARG(pos_jump), NNCL_ARG(pos_step), NNCL_ARG(panels)));
}

static nncl_status launch_col2im(nncl_graph *g, const nncl_window *w, const conv_dims *d, cl_mem dx,
                                 size_t first, size_t nb, bool accumulate) {
    cl_uint dx_off = (cl_uint)(first * d->c_in * d->spatial_in);
    cl_int total = (cl_int)(nb * d->c_in * (size_t)(w->in[0] * w->in[1])); /* input rows */
    cl_int channels = (cl_int)d->c_in;
    cl_int acc = accumulate;
    cl_int4 in = nncl_int4(w->in), out = nncl_int4(w->out), k = nncl_int4(w->kernel),
            stride = nncl_int4(w->stride), pad = nncl_int4(w->pad_begin),
            dil = nncl_int4(w->dilation);
    return nncl_launch(g->ctx, "col2im", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(g->workspace), NNCL_ARG(dx), NNCL_ARG(dx_off),
                                 NNCL_ARG(total), NNCL_ARG(channels), NNCL_ARG(in), NNCL_ARG(out),
                                 NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil),
                                 NNCL_ARG(acc)));
}

static size_t workspace(const nncl_node *node, conv_direction dir) {
    (void)dir;
    conv_dims d = nncl_conv_dims(node);
    size_t nb = chunk_of(&d);
    return (cols_floats(&d, nb) + d.c_out * nb * d.spatial_out) * sizeof(float);
}

static nncl_status run_chunk(nncl_graph *g, const nncl_node *node, conv_direction dir,
                             const conv_buffers *b, const conv_dims *d, size_t first, size_t nb) {
    const nncl_window *win = &nncl_conv_attrs(node)->win;
    size_t cols = nb * d->spatial_out, outs = cols_floats(d, nb); /* channel-major block */
    size_t y_off = first * d->c_out * d->spatial_out;
    nncl_status st = NNCL_OK;
    if (dir == CONV_FORWARD && nncl_gemm_is_packed(g->ctx)) {
        /* As below, with the input unfolded straight into the packed layout. */
        size_t pf = group_floats(g, d, nb, UNFOLD_PACKED_FORWARD);
        st = launch_unfold(g, win, d, b->x, first, nb, UNFOLD_PACKED_FORWARD);
        if (d->groups == 1 && d->spatial_out % nncl_gemm_panel_width(g->ctx) == 0) {
            /* Each image's positions fill whole panels: one product per
             * image, written in place in y, and no permutation. */
            nncl_gemm_batch per_image = {nb, 0, d->kg * d->spatial_out, d->c_out * d->spatial_out};
            return st == NNCL_OK ? nncl_gemm_prepacked(g->ctx, &per_image, d->c_out, d->spatial_out,
                                                       d->kg, 1.0f, b->w, 0, d->kg, g->workspace, 0,
                                                       0.0f, b->y, y_off, d->spatial_out)
                                 : st;
        }
        nncl_gemm_batch per_group = {d->groups, d->cg_out * d->kg, pf, d->cg_out * cols};
        if (st == NNCL_OK)
            st = nncl_gemm_prepacked(g->ctx, &per_group, d->cg_out, cols, d->kg, 1.0f, b->w, 0,
                                     d->kg, g->workspace, 0, 0.0f, g->workspace, outs, cols);
        return st == NNCL_OK ? nncl_swap_outer(g, g->workspace, outs, b->y, y_off, d->c_out, nb,
                                               d->spatial_out)
                             : st;
    }
    if (dir == CONV_FORWARD) {
        /* Y_g [cg_out x cols] = W_g [cg_out x kg] * columns_g [kg x cols]: CLBlast
         * copies transposed operands first (half speed on CPUs), so columns. */
        st = launch_im2col(g, win, d, b->x, first, nb);
        for (size_t gr = 0; gr < d->groups && st == NNCL_OK; gr++)
            st = nncl_gemm(g->ctx, false, false, d->cg_out, cols, d->kg, 1.0f, b->w,
                           gr * d->cg_out * d->kg, d->kg, g->workspace, gr * d->kg * cols, cols,
                           0.0f, g->workspace, outs + gr * d->cg_out * cols, cols);
        return st == NNCL_OK ? nncl_swap_outer(g, g->workspace, outs, b->y, y_off, d->c_out, nb,
                                               d->spatial_out)
                             : st;
    }
    st = nncl_swap_outer(g, b->y, y_off, g->workspace, outs, nb, d->c_out, d->spatial_out);
    if (dir == CONV_BACKWARD_WEIGHTS && nncl_gemm_is_packed(g->ctx)) {
        /* As below, with the rows unfolded straight into the packed layout. */
        size_t gf = group_floats(g, d, nb, UNFOLD_PACKED_WEIGHTS);
        if (st == NNCL_OK) st = launch_unfold(g, win, d, b->x, first, nb, UNFOLD_PACKED_WEIGHTS);
        nncl_gemm_batch per_group = {d->groups, d->cg_out * cols, gf, d->cg_out * d->kg};
        if (st == NNCL_OK)
            st = nncl_gemm_prepacked(g->ctx, &per_group, d->cg_out, d->kg, cols, 1.0f, g->workspace,
                                     outs, cols, g->workspace, 0, 1.0f, b->w, 0, d->kg);
        return st;
    }
    if (dir == CONV_BACKWARD_WEIGHTS) {
        /* dW_g [cg_out x kg] += dY_g [cg_out x cols] * rows_g [cols x kg]: rows,
         * so that neither operand is transposed; group gr's at gr * kg in each. */
        if (st == NNCL_OK) st = launch_unfold(g, win, d, b->x, first, nb, UNFOLD_ROWS);
        for (size_t gr = 0; gr < d->groups && st == NNCL_OK; gr++)
            st = nncl_gemm(g->ctx, false, false, d->cg_out, d->kg, cols, 1.0f, g->workspace,
                           outs + gr * d->cg_out * cols, cols, g->workspace, gr * d->kg,
                           d->c_in * d->kvol, 1.0f, b->w, gr * d->cg_out * d->kg, d->kg);
        return st;
    }
    /* columns_g = W_g^T [kg x cg_out] * dY_g [cg_out x cols], folded onto dX. */
    for (size_t gr = 0; gr < d->groups && st == NNCL_OK; gr++)
        st = nncl_gemm(g->ctx, true, false, d->kg, cols, d->cg_out, 1.0f, b->w,
                       gr * d->cg_out * d->kg, d->kg, g->workspace, outs + gr * d->cg_out * cols,
                       cols, 0.0f, g->workspace, gr * d->kg * cols, cols);
    return st == NNCL_OK ? launch_col2im(g, win, d, b->x, first, nb, b->accumulate) : st;
}

static nncl_status run(nncl_graph *g, const nncl_node *node, conv_direction dir,
                       const conv_buffers *b) {
    conv_dims d = nncl_conv_dims(node);
    size_t chunk = chunk_of(&d);
    nncl_status st = NNCL_OK;
    for (size_t first = 0; first < d.batch && st == NNCL_OK; first += chunk)
        st = run_chunk(g, node, dir, b, &d, first,
                       d.batch - first < chunk ? d.batch - first : chunk);
    return st;
}

const conv_algorithm nncl_conv_im2col = {"im2col", nncl_conv_any_layer, workspace, run};

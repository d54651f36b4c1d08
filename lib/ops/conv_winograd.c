/* Winograd F(2x2, 3x3) and F(4x4, 3x3) for 2D 3x3 layers with stride 1, no
 * dilation and one group: transforms in cl/winograd.cl and winograd4.cl,
 * the 16 (36) products per tile as 16 (36) GEMMs (2.25x, 4x fewer
 * multiplies than im2col); on the packed GEMM path the input transform
 * writes the GEMMs' packed operand itself. The input
 * gradient is the same algorithm on dY with the weights turned 180 degrees
 * and channels swapped, padded by 2 - pad. The weight gradient
 * differentiates the same transforms: dY's tiles transformed, 16 GEMMs
 * over the tiles against the transformed input, one transform back onto
 * dW (the products' k is the tile count, so they sum the whole batch);
 * F(2x2, 3x3) only. F(4x4, 3x3) halves the products again and writes
 * 2.25 transformed values per output instead of 4, at some accuracy (its
 * transforms scale by up to 8 and 1/24). */
#include "conv.h"

/* Output tile m x m, (m + 2)^2 planes, and the transforms' kernels. */
typedef struct winograd_kind {
    int m;
    size_t planes;
    const char *input, *weights, *output;
} winograd_kind;

static const winograd_kind f2x2 = {2, 16, "winograd_input", "winograd_weights", "winograd_output"};
static const winograd_kind f4x4 = {4, 36, "winograd4_input", "winograd4_weights",
                                   "winograd4_output"};

/* One Winograd convolution: src [batch, ins, src_size] to dst [batch, outs,
 * dst_size] with padding pad at the top left. */
typedef struct winograd_job {
    const winograd_kind *kind;
    size_t batch, ins, outs;
    cl_int2 src_size, dst_size, pad;
    size_t tiles_h, tiles_w;
    bool flip;
} winograd_job;

static winograd_job job_of(const nncl_node *node, conv_direction dir, const winograd_kind *kind) {
    conv_dims d = nncl_conv_dims(node);
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    cl_int2 in = {{(cl_int)w->in[1], (cl_int)w->in[2]}},
            out = {{(cl_int)w->out[1], (cl_int)w->out[2]}};
    winograd_job j = {.kind = kind, .batch = d.batch, .flip = dir == CONV_BACKWARD_DATA};
    if (j.flip) {
        j.ins = d.c_out, j.outs = d.c_in, j.src_size = out, j.dst_size = in;
        j.pad = (cl_int2){{(cl_int)(2 - w->pad_begin[1]), (cl_int)(2 - w->pad_begin[2])}};
    } else {
        j.ins = d.c_in, j.outs = d.c_out, j.src_size = in, j.dst_size = out;
        j.pad = (cl_int2){{(cl_int)w->pad_begin[1], (cl_int)w->pad_begin[2]}};
    }
    j.tiles_h = (size_t)(j.dst_size.s[0] + kind->m - 1) / (size_t)kind->m;
    j.tiles_w = (size_t)(j.dst_size.s[1] + kind->m - 1) / (size_t)kind->m;
    return j;
}

static bool applies(const nncl_node *node, conv_direction dir) {
    (void)dir; /* every direction */
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    if (w->spatial != 2 || nncl_conv_attrs(node)->groups != 1) return false;
    for (int i = 1; i < 3; i++)
        if (w->kernel[i] != 3 || w->stride[i] != 1 || w->dilation[i] != 1 || w->pad_begin[i] > 2 ||
            w->pad_end[i] > 2)
            return false;
    return true;
}

/* Floats between the planes of a transformed array holding n each:
 * rounded up to 4 KiB, plus 512 bytes (so GEMM operands stay at offsets
 * any device's base-address alignment accepts). Planes a multiple of 4 KiB
 * apart fall into the same cache sets, and the transforms' streams of
 * stores (or loads) then evict each other: 3x slower on PoCL at 2 MiB. */
static size_t plane_floats(size_t n) {
    return (n + 1023) / 1024 * 1024 + 128;
}

static size_t weights_floats(const winograd_job *j) {
    return j->kind->planes * plane_floats(j->ins * j->outs);
}

/* Tiles of a chunk of nb images, and the tiles the transformed input's
 * planes make room for: whole panels of the packed GEMM's layout, which
 * the input transform writes on that path (32 covers the widest panels,
 * two float16 vectors). */
static size_t tiles_of(const winograd_job *j, size_t nb) {
    return nb * j->tiles_h * j->tiles_w;
}

static size_t v_tiles(const winograd_job *j, size_t nb) {
    return (tiles_of(j, nb) + 31) / 32 * 32;
}

/* Transformed input and products for nb images. */
static size_t chunk_floats(const winograd_job *j, size_t nb) {
    return j->kind->planes *
           (plane_floats(j->ins * v_tiles(j, nb)) + plane_floats(j->outs * tiles_of(j, nb)));
}

static size_t chunk_of(const winograd_job *j) {
    size_t room = NNCL_CONV_WORKSPACE_LIMIT / sizeof(float) - weights_floats(j), chunk = 1;
    while (chunk < j->batch && chunk_floats(j, chunk + 1) <= room)
        chunk++;
    return chunk;
}

/* The weight gradient's chunk: transformed dY [outs x tiles] and input
 * [ins x tiles] per plane, the input with room for whole panels of
 * channels (its packed layout on the packed GEMM path). */
static size_t grad_chunk_floats(const winograd_job *j, size_t nb) {
    size_t ins = (j->ins + 31) / 32 * 32;
    return 16 * (plane_floats(j->outs * tiles_of(j, nb)) + plane_floats(ins * tiles_of(j, nb)));
}

static size_t grad_chunk_of(const winograd_job *j) {
    size_t room = NNCL_CONV_WORKSPACE_LIMIT / sizeof(float) - weights_floats(j), chunk = 1;
    while (chunk < j->batch && grad_chunk_floats(j, chunk + 1) <= room)
        chunk++;
    return chunk;
}

static size_t workspace_of(const nncl_node *node, conv_direction dir, const winograd_kind *kind) {
    winograd_job j = job_of(node, dir, kind);
    size_t chunk = dir == CONV_BACKWARD_WEIGHTS ? grad_chunk_floats(&j, grad_chunk_of(&j))
                                                : chunk_floats(&j, chunk_of(&j));
    return (weights_floats(&j) + chunk) * sizeof(float);
}

/* The transformed weights U [planes][outs][ins] for job j: transformed now
 * into the workspace's start, or for an eval forward kept in the node's
 * aux[1], transformed again only after the parameters changed (an
 * inference then pays for no weight transform). */
static nncl_status transformed_weights(nncl_graph *g, const nncl_node *node, const winograd_job *j,
                                       const conv_buffers *b, cl_mem *u) {
    *u = g->workspace;
    if (b->keep_weights) {
        nncl_node *self = g->nodes[node->index];
        conv_attrs *a = nncl_conv_attrs(node);
        if (self->aux[1] && a->kept_m == j->kind->m && a->kept_version == g->param_version) {
            *u = self->aux[1];
            return NNCL_OK;
        }
        if (a->kept_m != j->kind->m) {
            nncl_buffer_release(g->ctx, self->aux[1]);
            self->aux[1] = NULL;
        }
        nncl_status st = nncl_node_aux(g, self, 1, weights_floats(j) * sizeof(float));
        if (st != NNCL_OK) return st;
        *u = self->aux[1];
        a->kept_m = j->kind->m;
        a->kept_version = g->param_version;
    }
    cl_int outs = (cl_int)j->outs, ins = (cl_int)j->ins, flip = j->flip,
           plane = (cl_int)plane_floats(j->outs * j->ins);
    nncl_status st = nncl_launch(g->ctx, j->kind->weights, j->outs * j->ins,
                                 NNCL_ARGS(NNCL_ARG(b->w), NNCL_ARG(*u), NNCL_ARG(plane),
                                           NNCL_ARG(outs), NNCL_ARG(ins), NNCL_ARG(flip)));
    if (st != NNCL_OK && b->keep_weights) nncl_conv_attrs(node)->kept_m = 0;
    return st;
}

static nncl_status run_chunk(nncl_graph *g, const winograd_job *j, cl_mem u, cl_mem src, cl_mem dst,
                             bool accumulate, size_t first, size_t nb) {
    size_t tiles = tiles_of(j, nb);
    size_t u_plane = plane_floats(j->outs * j->ins),
           v_plane = plane_floats(j->ins * v_tiles(j, nb)), m_plane = plane_floats(j->outs * tiles);
    cl_int packed = nncl_gemm_is_packed(g->ctx);
    size_t v_off = weights_floats(j), m_off = v_off + j->kind->planes * v_plane;
    cl_uint src_off = (cl_uint)(first * j->ins * (size_t)(j->src_size.s[0] * j->src_size.s[1]));
    cl_uint dst_off = (cl_uint)(first * j->outs * (size_t)(j->dst_size.s[0] * j->dst_size.s[1]));
    cl_int rows = (cl_int)(nb * j->ins * j->tiles_h), ins = (cl_int)j->ins, ct = (cl_int)tiles,
           th = (cl_int)j->tiles_h, tw = (cl_int)j->tiles_w, acc = accumulate, vp = (cl_int)v_plane,
           mp = (cl_int)m_plane;
    cl_mem ws = g->workspace;
    cl_uint v_arg = (cl_uint)v_off, m_arg = (cl_uint)m_off;
    nncl_status st = nncl_launch(
        g->ctx, j->kind->input, (size_t)rows,
        NNCL_ARGS(NNCL_ARG(src), NNCL_ARG(src_off), NNCL_ARG(ws), NNCL_ARG(v_arg), NNCL_ARG(vp),
                  NNCL_ARG(packed), NNCL_ARG(rows), NNCL_ARG(ins), NNCL_ARG(ct), NNCL_ARG(th),
                  NNCL_ARG(tw), NNCL_ARG(j->src_size), NNCL_ARG(j->pad)));
    /* M[xi] [outs x tiles] = U[xi] [outs x ins] * V[xi] [ins x tiles] */
    nncl_gemm_batch per_plane = {j->kind->planes, u_plane, v_plane, m_plane};
    if (packed && st == NNCL_OK)
        st = nncl_gemm_prepacked(g->ctx, &per_plane, j->outs, tiles, j->ins, 1.0f, u, 0, j->ins, ws,
                                 v_off, 0.0f, ws, m_off, tiles);
    for (size_t xi = 0; !packed && xi < j->kind->planes && st == NNCL_OK; xi++)
        st = nncl_gemm(g->ctx, false, false, j->outs, tiles, j->ins, 1.0f, u, xi * u_plane, j->ins,
                       ws, v_off + xi * v_plane, tiles, 0.0f, ws, m_off + xi * m_plane, tiles);
    rows = (cl_int)(nb * j->outs * j->tiles_h);
    cl_int outs = (cl_int)j->outs;
    if (st == NNCL_OK)
        st = nncl_launch(g->ctx, j->kind->output, (size_t)rows,
                         NNCL_ARGS(NNCL_ARG(ws), NNCL_ARG(m_arg), NNCL_ARG(mp), NNCL_ARG(dst),
                                   NNCL_ARG(dst_off), NNCL_ARG(rows), NNCL_ARG(outs), NNCL_ARG(ct),
                                   NNCL_ARG(th), NNCL_ARG(tw), NNCL_ARG(j->dst_size),
                                   NNCL_ARG(acc)));
    return st;
}

/* dU [16][outs][ins] at the workspace's start (+)= transformed dY times
 * transformed x over the chunk's tiles. */
static nncl_status grad_chunk(nncl_graph *g, const winograd_job *j, const conv_buffers *b,
                              size_t first, size_t nb) {
    size_t tiles = tiles_of(j, nb), u_plane = plane_floats(j->outs * j->ins);
    size_t m_plane = plane_floats(j->outs * tiles),
           v_plane = plane_floats((j->ins + 31) / 32 * 32 * tiles);
    size_t m_off = weights_floats(j), v_off = m_off + 16 * m_plane;
    cl_int packed = nncl_gemm_is_packed(g->ctx) ? 2 : 0;
    cl_uint x_off = (cl_uint)(first * j->ins * (size_t)(j->src_size.s[0] * j->src_size.s[1]));
    cl_uint y_off = (cl_uint)(first * j->outs * (size_t)(j->dst_size.s[0] * j->dst_size.s[1]));
    cl_int rows = (cl_int)(nb * j->ins * j->tiles_h), ins = (cl_int)j->ins, outs = (cl_int)j->outs,
           ct = (cl_int)tiles, th = (cl_int)j->tiles_h, tw = (cl_int)j->tiles_w,
           vp = (cl_int)v_plane, mp = (cl_int)m_plane;
    cl_mem ws = g->workspace;
    cl_uint v_arg = (cl_uint)v_off, m_arg = (cl_uint)m_off;
    nncl_status st = nncl_launch(
        g->ctx, "winograd_input", (size_t)rows,
        NNCL_ARGS(NNCL_ARG(b->x), NNCL_ARG(x_off), NNCL_ARG(ws), NNCL_ARG(v_arg), NNCL_ARG(vp),
                  NNCL_ARG(packed), NNCL_ARG(rows), NNCL_ARG(ins), NNCL_ARG(ct), NNCL_ARG(th),
                  NNCL_ARG(tw), NNCL_ARG(j->src_size), NNCL_ARG(j->pad)));
    cl_int dy_rows = (cl_int)(nb * j->outs * j->tiles_h);
    if (st == NNCL_OK)
        st = nncl_launch(g->ctx, "winograd_grad_dy", (size_t)dy_rows,
                         NNCL_ARGS(NNCL_ARG(b->y), NNCL_ARG(y_off), NNCL_ARG(ws), NNCL_ARG(m_arg),
                                   NNCL_ARG(mp), NNCL_ARG(dy_rows), NNCL_ARG(outs), NNCL_ARG(ct),
                                   NNCL_ARG(th), NNCL_ARG(tw), NNCL_ARG(j->dst_size)));
    /* dU[xi] [outs x ins] (+)= dM[xi] [outs x tiles] * V[xi]^T [tiles x ins] */
    float beta = first ? 1.0f : 0.0f;
    nncl_gemm_batch per_plane = {16, m_plane, v_plane, u_plane};
    if (packed && st == NNCL_OK)
        st = nncl_gemm_prepacked(g->ctx, &per_plane, j->outs, j->ins, tiles, 1.0f, ws, m_off, tiles,
                                 ws, v_off, beta, ws, 0, j->ins);
    for (size_t xi = 0; !packed && xi < 16 && st == NNCL_OK; xi++)
        st = nncl_gemm(g->ctx, false, true, j->outs, j->ins, tiles, 1.0f, ws, m_off + xi * m_plane,
                       tiles, ws, v_off + xi * v_plane, tiles, beta, ws, xi * u_plane, j->ins);
    return st;
}

static nncl_status run_grad(nncl_graph *g, const winograd_job *j, const conv_buffers *b) {
    size_t chunk = grad_chunk_of(j);
    nncl_status st = NNCL_OK;
    for (size_t first = 0; first < j->batch && st == NNCL_OK; first += chunk)
        st = grad_chunk(g, j, b, first, j->batch - first < chunk ? j->batch - first : chunk);
    cl_int outs = (cl_int)j->outs, ins = (cl_int)j->ins,
           plane = (cl_int)plane_floats(j->outs * j->ins);
    return st == NNCL_OK ? nncl_launch(g->ctx, "winograd_weights_grad", j->outs * j->ins,
                                       NNCL_ARGS(NNCL_ARG(g->workspace), NNCL_ARG(plane),
                                                 NNCL_ARG(b->w), NNCL_ARG(outs), NNCL_ARG(ins)))
                         : st;
}

static nncl_status run_of(nncl_graph *g, const nncl_node *node, conv_direction dir,
                          const conv_buffers *b, const winograd_kind *kind) {
    winograd_job j = job_of(node, dir, kind);
    if (dir == CONV_BACKWARD_WEIGHTS) return run_grad(g, &j, b);
    cl_mem u;
    nncl_status st = transformed_weights(g, node, &j, b, &u);
    cl_mem src = j.flip ? b->y : b->x, dst = j.flip ? b->x : b->y;
    size_t chunk = chunk_of(&j);
    for (size_t first = 0; first < j.batch && st == NNCL_OK; first += chunk)
        st = run_chunk(g, &j, u, src, dst, j.flip && b->accumulate, first,
                       j.batch - first < chunk ? j.batch - first : chunk);
    return st;
}

static size_t workspace(const nncl_node *node, conv_direction dir) {
    return workspace_of(node, dir, &f2x2);
}

static nncl_status run(nncl_graph *g, const nncl_node *node, conv_direction dir,
                       const conv_buffers *b) {
    return run_of(g, node, dir, b, &f2x2);
}

const conv_algorithm nncl_conv_winograd = {"winograd", applies, workspace, run};

/* F(4x4, 3x3): forward and input gradient (the weight gradient stays with
 * F(2x2, 3x3)). */
static bool applies4(const nncl_node *node, conv_direction dir) {
    return dir != CONV_BACKWARD_WEIGHTS && applies(node, dir);
}

static size_t workspace4(const nncl_node *node, conv_direction dir) {
    return workspace_of(node, dir, &f4x4);
}

static nncl_status run4(nncl_graph *g, const nncl_node *node, conv_direction dir,
                        const conv_buffers *b) {
    return run_of(g, node, dir, b, &f4x4);
}

const conv_algorithm nncl_conv_winograd4 = {"winograd4", applies4, workspace4, run4};

/* F(4x4, 3x3) fused (cl/winograd4_fused.cl): each work-item carries blocks
 * of one panel of tiles through all three stages in its own slot of
 * scratch. Packed GEMM path only: the products are its register tiles. */
static bool applies_fused(const nncl_node *node, conv_direction dir) {
    return applies4(node, dir) && nncl_gemm_is_packed(node->graph->ctx);
}

/* Floats between a slot's planes: a power of two apart, the 36 planes'
 * rows a block's transform writes would share L1 sets. */
static size_t slot_plane(size_t channels, size_t width) {
    return channels * width + 128;
}

/* Slots: a few per compute unit, so uneven blocks even out, and no more
 * than there are blocks. */
static size_t fused_slots(const nncl_context *ctx, size_t blocks) {
    size_t want = 4 * (size_t)(ctx->info.compute_units ? ctx->info.compute_units : 1);
    return blocks < want ? blocks : want;
}

typedef struct fused_shape {
    size_t tiles, blocks, slots, v_plane, m_plane;
} fused_shape;

static fused_shape fused_shape_of(const nncl_context *ctx, const winograd_job *j) {
    size_t width = nncl_gemm_panel_width(ctx);
    fused_shape f = {.tiles = tiles_of(j, j->batch)};
    f.blocks = (f.tiles + width - 1) / width;
    f.slots = fused_slots(ctx, f.blocks);
    f.v_plane = slot_plane(j->ins, width);
    f.m_plane = slot_plane(j->outs, width);
    return f;
}

static size_t workspace_fused(const nncl_node *node, conv_direction dir) {
    winograd_job j = job_of(node, dir, &f4x4);
    fused_shape f = fused_shape_of(node->graph->ctx, &j);
    return (weights_floats(&j) + f.slots * 36 * (f.v_plane + f.m_plane)) * sizeof(float);
}

static nncl_status run_fused(nncl_graph *g, const nncl_node *node, conv_direction dir,
                             const conv_buffers *b) {
    winograd_job j = job_of(node, dir, &f4x4);
    fused_shape f = fused_shape_of(g->ctx, &j);
    cl_int outs = (cl_int)j.outs, ins = (cl_int)j.ins, plane = (cl_int)plane_floats(j.outs * j.ins);
    cl_mem u;
    nncl_status st = transformed_weights(g, node, &j, b, &u);
    cl_mem src = j.flip ? b->y : b->x, dst = j.flip ? b->x : b->y;
    cl_uint s_off = (cl_uint)weights_floats(&j);
    cl_int vp = (cl_int)f.v_plane, mp = (cl_int)f.m_plane, acc = j.flip && b->accumulate,
           tiles = (cl_int)f.tiles, blocks = (cl_int)f.blocks, th = (cl_int)j.tiles_h,
           tw = (cl_int)j.tiles_w;
    if (st == NNCL_OK)
        st = nncl_launch_groups(g->ctx, "winograd4_fused", f.slots, 1,
                                NNCL_ARGS(NNCL_ARG(src), NNCL_ARG(u), NNCL_ARG(plane),
                                          NNCL_ARG(g->workspace), NNCL_ARG(s_off), NNCL_ARG(vp),
                                          NNCL_ARG(mp), NNCL_ARG(dst), NNCL_ARG(acc), NNCL_ARG(ins),
                                          NNCL_ARG(outs), NNCL_ARG(tiles), NNCL_ARG(blocks),
                                          NNCL_ARG(th), NNCL_ARG(tw), NNCL_ARG(j.src_size),
                                          NNCL_ARG(j.dst_size), NNCL_ARG(j.pad)));
    return st;
}

const conv_algorithm nncl_conv_winograd4_fused = {"winograd4_fused", applies_fused, workspace_fused,
                                                  run_fused};

/* Upsampling, PyTorch's nn.Upsample / F.interpolate in 1, 2 and 3 spatial
 * dims: nearest, and linear interpolation in every dim (linear, bilinear,
 * trilinear) with align_corners either way, to a given size or by scale
 * factors. The coordinate scales are computed here in float the way
 * PyTorch computes them, so the same output indices come out. */
#include "ops.h"

#include <math.h>

typedef struct upsample_attrs {
    bool linear, align_corners;
    float scale[3]; /* source coordinate per output step, (d, h, w) */
} upsample_attrs;

static upsample_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

/* PyTorch's area_pixel_compute_scale / compute_scales_value. */
static float coordinate_scale(int64_t in, int64_t out, double factor, bool linear, bool align) {
    if (linear && align) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return factor > 0.0 ? (float)(1.0 / factor) : (float)in / (float)out;
}

nncl_node *nncl_upsample(nncl_graph *g, nncl_node *x, const nncl_upsample_params *p,
                         const char *name) {
    if (!nncl_builder_ready(g, "upsample", &x, 1)) return NULL;
    char s[128];
    if (!p)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "upsample", name,
                               "params are required (size or scale)");
    if (x->is_labels || x->shape.rank < 3 || x->shape.rank > 5)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "upsample", name,
                               "input '%s' %s must be NCW, NCHW or NCDHW features", x->name,
                               nncl_shape_str(x->shape, s, sizeof s));
    if (p->mode != NNCL_UPSAMPLE_NEAREST && p->mode != NNCL_UPSAMPLE_LINEAR)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "upsample", name,
                               "mode %d is neither NNCL_UPSAMPLE_NEAREST nor _LINEAR",
                               (int)p->mode);
    bool linear = p->mode == NNCL_UPSAMPLE_LINEAR;
    if (p->align_corners && !linear)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "upsample", name,
                               "align_corners applies to linear modes only");
    int spatial = x->shape.rank - 2;
    bool by_size = p->size[0] != 0;
    nncl_shape y = x->shape;
    upsample_attrs a = {
        .linear = linear, .align_corners = p->align_corners, .scale = {1.0f, 1.0f, 1.0f}};
    for (int i = 0; i < 3; i++) {
        if (i >= spatial) {
            if (p->size[i] || p->scale[i] != 0.0)
                return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "upsample", name,
                                       "input %s has %d spatial dims but dim %d is set",
                                       nncl_shape_str(x->shape, s, sizeof s), spatial, i);
            continue;
        }
        int64_t in = x->shape.dims[2 + i], out;
        if (by_size ? p->scale[i] != 0.0 : p->size[i] != 0)
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "upsample", name,
                                   "dim %d: give either sizes or scale factors for every dim", i);
        if (by_size) {
            out = p->size[i];
        } else {
            double f = p->scale[i], scaled = (double)in * f;
            if (!(f > 0.0) || !isfinite(f) || !(scaled < 2147483648.0))
                return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "upsample", name,
                                       "dim %d: scale factor %g must be finite and > 0, and "
                                       "the output below 2^31",
                                       i, f);
            out = (int64_t)floor(scaled);
        }
        if (out <= 0 || out > INT32_MAX)
            return nncl_build_fail(g, NNCL_ERROR_SHAPE, "upsample", name,
                                   "input %s: dim %d output size %lld must be in 1..2^31-1",
                                   nncl_shape_str(x->shape, s, sizeof s), i, (long long)out);
        y.dims[2 + i] = out;
        a.scale[3 - spatial + i] =
            coordinate_scale(in, out, by_size ? 0.0 : p->scale[i], linear, p->align_corners);
    }
    nncl_node *node = nncl_node_add(g, NNCL_OP_UPSAMPLE, name, &x, 1, y);
    if (node) *attrs_of(node) = a;
    return node;
}

static nncl_status upsample_forward(nncl_graph *g, nncl_node *node) {
    const upsample_attrs *a = attrs_of(node);
    cl_int total = (cl_int)nncl_shape_numel(node->shape), linear = a->linear,
           align = a->align_corners;
    cl_int4 in = nncl_spatial_dims(node->inputs[0]->shape), out = nncl_spatial_dims(node->shape);
    cl_float4 scale = {{a->scale[0], a->scale[1], a->scale[2], 0.0f}};
    return nncl_launch(g->ctx, "upsample_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(total), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(scale),
                                 NNCL_ARG(linear), NNCL_ARG(align)));
}

static nncl_status upsample_backward(nncl_graph *g, nncl_node *node) {
    const upsample_attrs *a = attrs_of(node);
    nncl_node *x = node->inputs[0];
    cl_int total = (cl_int)nncl_shape_numel(x->shape), linear = a->linear, align = a->align_corners,
           acc = node->accumulate[0];
    cl_int4 in = nncl_spatial_dims(x->shape), out = nncl_spatial_dims(node->shape);
    cl_float4 scale = {{a->scale[0], a->scale[1], a->scale[2], 0.0f}};
    return nncl_launch(g->ctx, "upsample_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(x->grad), NNCL_ARG(total),
                                 NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(scale), NNCL_ARG(linear),
                                 NNCL_ARG(align), NNCL_ARG(acc)));
}

/* Resize to the output's sizes: nearest as PyTorch's (asymmetric, floor),
 * linear with align_corners or PyTorch's half-pixel rule. */
static nncl_status upsample_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const upsample_attrs *a = attrs_of(node);
    nncl_shape x = node->inputs[0]->shape, y = node->shape;
    int64_t sizes[NNCL_MAX_RANK];
    float scales[NNCL_MAX_RANK];
    bool exact = !a->align_corners; /* align_corners reads the sizes */
    for (int32_t d = 0; d < y.rank; d++) {
        sizes[d] = y.dims[d];
        scales[d] = (float)y.dims[d] / (float)x.dims[d];
        exact &= (int64_t)floorf((float)x.dims[d] * scales[d]) == y.dims[d];
    }
    /* Scales keep the batch free where they give the sizes exactly. */
    const char *in[4] = {nncl_ox_value(node->inputs[0]), NULL,
                         exact ? nncl_ox_const_floats(w, node, "scales", scales, NNCL_SHAPE(y.rank))
                               : NULL,
                         exact ? NULL : nncl_ox_const_ints(w, node, "sizes", sizes, y.rank)};
    int n = nncl_ox_add(w, "Resize", in, exact ? 3 : 4, nncl_ox_value(node));
    nncl_ox_string(w, n, "mode", a->linear ? "linear" : "nearest");
    nncl_ox_string(w, n, "coordinate_transformation_mode",
                   !a->linear         ? "asymmetric"
                   : a->align_corners ? "align_corners"
                                      : "pytorch_half_pixel");
    if (!a->linear) nncl_ox_string(w, n, "nearest_mode", "floor");
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_upsample = {.attrs_size = sizeof(upsample_attrs),
                                         .profile_forward = NNCL_PROFILE_POOLING,
                                         .profile_backward = NNCL_PROFILE_POOLING,
                                         .forward = upsample_forward,
                                         .backward = upsample_backward,
                                         .to_onnx = upsample_to_onnx};

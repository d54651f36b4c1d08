/* ONNX's Resize and Upsample where they are PyTorch's interpolate, the
 * forms torch.onnx.export writes for nn.Upsample and F.interpolate. */
#include "importer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Resize (and opset 9's Upsample) where it is PyTorch's interpolate:
 * nearest with asymmetric coordinates rounding down (or the default
 * half-pixel rounding, the same for whole factors), or linear with
 * half_pixel / pytorch_half_pixel / align_corners; scales or sizes over
 * the spatial dims only. */
nncl_status onnx_map_resize(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                            nncl_node **out) {
    nncl_node *x = onnx_value(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 must be a computed value%s", "");
    nncl_shape in = nncl_node_shape(x);
    int spatial = in.rank - 2;
    char buf[40], cbuf[40], nbuf[40];
    const char *mode = onnx_attr_string(n, "mode", "nearest", buf, sizeof buf);
    const char *coord =
        onnx_attr_string(n, "coordinate_transformation_mode", "half_pixel", cbuf, sizeof cbuf);
    const char *nearest =
        onnx_attr_string(n, "nearest_mode", "round_prefer_floor", nbuf, sizeof nbuf);
    bool upsample = !strcmp(n->op_type, "Upsample") || im->opset < 11;
    nncl_upsample_params p = {0};
    /* ONNX's default nearest (half-pixel centres, rounding to the nearest)
     * picks the same pixels as PyTorch's where every factor is a whole
     * number: (dst + 1/2) / s - 1/2 lies within (s - 1) / 2s of floor(dst / s). */
    bool centred =
        (!strcmp(coord, "half_pixel") || !strcmp(coord, "pytorch_half_pixel")) &&
        (!strcmp(nearest, "round_prefer_floor") || !strcmp(nearest, "round_prefer_ceil"));
    if (!strcmp(mode, "nearest")) {
        if (!upsample && !centred && (strcmp(coord, "asymmetric") || strcmp(nearest, "floor")))
            return onnx_fail(im, label,
                             "nearest needs coordinate_transformation_mode 'asymmetric' and "
                             "nearest_mode 'floor' (PyTorch's nearest), or half-pixel centres "
                             "rounded with whole factors, not '%s'",
                             coord);
        p.mode = NNCL_UPSAMPLE_NEAREST;
    } else if (!strcmp(mode, "linear")) {
        if (upsample) /* asymmetric coordinates, which PyTorch's linear never uses */
            return onnx_fail(im, label, "linear before opset 11 is not supported%s", "");
        p.mode = NNCL_UPSAMPLE_LINEAR;
        p.align_corners = !upsample && !strcmp(coord, "align_corners");
        if (!upsample && !p.align_corners && strcmp(coord, "half_pixel") &&
            strcmp(coord, "pytorch_half_pixel"))
            return onnx_fail(im, label, "linear with coordinate_transformation_mode '%s'", coord);
    } else {
        return onnx_fail(im, label, "attribute 'mode' is '%s'", mode);
    }
    /* scales: Upsample's input 1, Resize's input 1 (opset 10) or 2; sizes: Resize's input 3 */
    size_t scales_at = upsample || im->opset < 11 ? 1 : 2;
    const NnclOnnx__TensorProto *scales = onnx_tensor(im, n, scales_at),
                                *sizes = onnx_tensor(im, n, 3);
    float *sv = NULL;
    int64_t count = 0, *zv = NULL;
    nncl_status st = NNCL_OK;
    if (scales && onnx_numel(scales) > 0)
        st = nncl_onnx_tensor_floats(scales, &sv, &count);
    else if (sizes)
        st = nncl_onnx_tensor_ints(sizes, &zv, &count);
    else
        st = onnx_fail(im, label, "needs constant scales or sizes%s", "");
    if (st == NNCL_OK && count != in.rank)
        st = onnx_fail(im, label, "scales or sizes need one value per dim%s", "");
    for (int d = 0; st == NNCL_OK && d < 2; d++)
        if (sv ? sv[d] != 1 : zv[d] != in.dims[d])
            st = onnx_fail(im, label, "the batch and channel dims must keep their size%s", "");
    for (int d = 0; st == NNCL_OK && d < spatial; d++) {
        if (sv)
            p.scale[d] = sv[2 + d];
        else
            p.size[d] = zv[2 + d];
        double factor = sv ? sv[2 + d] : (double)zv[2 + d] / (double)in.dims[2 + d];
        if (p.mode == NNCL_UPSAMPLE_NEAREST && !upsample && centred &&
            !(factor >= 1 && factor == floor(factor)))
            st = onnx_fail(im, label,
                           "nearest with half-pixel centres matches nncl's only for whole "
                           "upsampling factors%s",
                           "");
    }
    free(sv);
    free(zv);
    if (st != NNCL_OK) return st;
    *out = nncl_upsample(im->g, x, &p, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

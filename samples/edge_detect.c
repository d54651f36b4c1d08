/* Classic image kernels through nncl's convolution: Sobel x and y, the
 * Laplacian, sharpening and the vertical-edge kernel [1 0 -1] x 3. First the
 * lecture example (a 6x6 image, left half 10, right half 0, whose vertical
 * edge shows as columns 0 30 30 0), then a PNG: one grey output image per
 * kernel. Without an input PNG it draws a test picture.
 *
 *   usage: edge_detect [IN.png] [--out DIR]
 */
#include <nncl.h>

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KERNELS = 5 };

static const char *const names[KERNELS] = {"sobel_x", "sobel_y", "laplacian", "sharpen",
                                           "vertical_edge"};
static const float kernels[KERNELS][9] = {
    {-1, 0, 1, -2, 0, 2, -1, 0, 1},      {-1, -2, -1, 0, 0, 0, 1, 2, 1},
    {-1, -1, -1, -1, 8, -1, -1, -1, -1}, {0, -1, 0, -1, 5, -1, 0, -1, 0},
    {1, 0, -1, 1, 0, -1, 1, 0, -1},
};

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "edge_detect: %s: %s\n", what, nncl_last_error());
    exit(1);
}

/* Convolves a 1-channel h x w image with `count` fixed 3x3 kernels
 * (padding pad) and returns the outputs, [count, h', w'] (malloc'd). */
static float *filter(nncl_context *ctx, const float *img, int h, int w, const float *k, int count,
                     int pad, int *oh, int *ow) {
    nncl_graph *g;
    check(nncl_graph_create(ctx, NULL, &g), "graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(1, 1, h, w));
    nncl_node *y = nncl_conv(
        g, x,
        &(nncl_conv_params){
            .out_channels = count, .kernel = {3, 3}, .padding = {pad, pad}, .no_bias = true},
        "kernels");
    if (!y) {
        fprintf(stderr, "edge_detect: %s\n", nncl_graph_error(g));
        exit(1);
    }
    check(nncl_graph_param_write(g, "kernels.weight", k, (size_t)count * 9 * sizeof(float)),
          "kernels");
    check(nncl_graph_set_input(g, x, img, (size_t)(h * w) * sizeof(float)), "image");
    check(nncl_graph_forward(g), "convolution");
    nncl_shape s = nncl_node_shape(y);
    *oh = (int)s.dims[2];
    *ow = (int)s.dims[3];
    size_t n = (size_t)nncl_shape_numel(s);
    float *out = malloc(n * sizeof *out);
    check(nncl_graph_read(g, y, out, n * sizeof *out), "reading");
    nncl_graph_destroy(g);
    return out;
}

/* A picture with edges in every direction, for when no PNG is given. */
static cairo_surface_t *test_picture(void) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 256, 192);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.2);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, 0.9, 0.8, 0.3);
    cairo_arc(cr, 80, 96, 50, 0, 2 * 3.14159265358979);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.3, 0.7, 0.9);
    cairo_rectangle(cr, 150, 40, 80, 110);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 6);
    cairo_move_to(cr, 10, 180);
    cairo_line_to(cr, 246, 150);
    cairo_stroke(cr);
    cairo_destroy(cr);
    return s;
}

int main(int argc, char **argv) {
    const char *in = NULL, *out_dir = ".";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_dir = argv[++i];
        else if (!in && argv[i][0] != '-')
            in = argv[i];
        else {
            fprintf(stderr, "usage: %s [IN.png] [--out DIR]\n", argv[0]);
            return 2;
        }
    }
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");

    /* The lecture example: 6x6, left half 10, right half 0, no padding. */
    float six[36];
    for (int i = 0; i < 36; i++)
        six[i] = i % 6 < 3 ? 10.0f : 0.0f;
    int oh, ow;
    float *edge = filter(ctx, six, 6, 6, kernels[4], 1, 0, &oh, &ow);
    printf("vertical edge [1 0 -1] on the 6x6 example gives %dx%d:\n", oh, ow);
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++)
            printf(" %4.0f", edge[y * ow + x]);
        printf("\n");
    }
    free(edge);

    cairo_surface_t *src = in ? cairo_image_surface_create_from_png(in) : test_picture();
    if (cairo_surface_status(src) != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "edge_detect: cannot read %s: %s\n", in,
                cairo_status_to_string(cairo_surface_status(src)));
        return 1;
    }
    /* To grey values in [0, 1] (ITU-R BT.601 luma weights). */
    cairo_surface_t *rgb =
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, cairo_image_surface_get_width(src),
                                   cairo_image_surface_get_height(src));
    cairo_t *cr = cairo_create(rgb);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_surface(cr, src, 0, 0);
    cairo_paint(cr);
    cairo_destroy(cr);
    cairo_surface_flush(rgb);
    int h = cairo_image_surface_get_height(rgb), w = cairo_image_surface_get_width(rgb);
    int stride = cairo_image_surface_get_stride(rgb);
    const unsigned char *px = cairo_image_surface_get_data(rgb);
    float *grey = malloc((size_t)(h * w) * sizeof *grey);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t p = *(const uint32_t *)(px + y * stride + 4 * x);
            grey[y * w + x] =
                (0.299f * ((p >> 16) & 255) + 0.587f * ((p >> 8) & 255) + 0.114f * (p & 255)) /
                255.0f;
        }

    float *outs = filter(ctx, grey, h, w, &kernels[0][0], KERNELS, 1, &oh, &ow);
    for (int k = 0; k < KERNELS; k++) {
        /* Sharpen keeps the picture's range; the others show edge strength. */
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, ow, oh);
        unsigned char *dst = cairo_image_surface_get_data(img);
        int ds = cairo_image_surface_get_stride(img);
        const float *o = outs + (size_t)k * oh * ow;
        float scale = 1e-6f;
        for (int i = 0; i < oh * ow; i++)
            scale = fmaxf(scale, fabsf(o[i]));
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                float v = k == 3 ? o[y * ow + x] : fabsf(o[y * ow + x]) / scale;
                uint32_t g = (uint32_t)(fminf(fmaxf(v, 0.0f), 1.0f) * 255.0f);
                *(uint32_t *)(dst + y * ds + 4 * x) = g << 16 | g << 8 | g;
            }
        cairo_surface_mark_dirty(img);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.png", out_dir, names[k]);
        if (cairo_surface_write_to_png(img, path) == CAIRO_STATUS_SUCCESS)
            printf("wrote %s\n", path);
        cairo_surface_destroy(img);
    }
    free(outs);
    free(grey);
    cairo_surface_destroy(rgb);
    cairo_surface_destroy(src);
    nncl_context_destroy(ctx);
    return 0;
}

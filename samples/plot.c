/* Pictures for the samples, drawn with cairo: training curves, learned
 * filters, segmentation masks, signals and grids of grey or colour images,
 * written as PNG files. */
#include "plot.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>

static const double pi = 3.14159265358979323846;

typedef struct panel {
    double x, y, w, h;             /* plot area in pixels */
    double xmin, xmax, ymin, ymax; /* data range */
} panel;

static double px(const panel *p, double x) {
    return p->x + (x - p->xmin) / (p->xmax - p->xmin) * p->w;
}
static double py(const panel *p, double y) {
    return p->y + p->h - (y - p->ymin) / (p->ymax - p->ymin) * p->h;
}

/* A white canvas of width x height pixels with the sans-serif font. */
static cairo_t *canvas(int width, int height) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(s);
    cairo_surface_destroy(s); /* cr holds it */
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    return cr;
}

/* Writes the canvas to path as PNG and releases it; 0 on success. */
static int finish(cairo_t *cr, const char *path) {
    cairo_status_t st = cairo_surface_write_to_png(cairo_get_target(cr), path);
    cairo_destroy(cr);
    return st == CAIRO_STATUS_SUCCESS ? 0 : -1;
}

static void text(cairo_t *cr, double x, double y, const char *s, double align) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - align * e.width, y);
    cairo_show_text(cr, s);
}

/* Frame, grid, ticks and labels of one panel. */
static void axes(cairo_t *cr, const panel *p, const char *title, const char *ylabel, int xticks,
                 bool percent) {
    cairo_set_source_rgb(cr, 0.92, 0.92, 0.92);
    cairo_set_line_width(cr, 1);
    char buf[32];
    for (int i = 0; i <= 4; i++) {
        double v = p->ymin + (p->ymax - p->ymin) * i / 4;
        cairo_move_to(cr, p->x, py(p, v));
        cairo_line_to(cr, p->x + p->w, py(p, v));
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, p->x, p->y, p->w, p->h);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 12);
    for (int i = 0; i <= 4; i++) {
        double v = p->ymin + (p->ymax - p->ymin) * i / 4;
        snprintf(buf, sizeof buf, percent ? "%.1f%%" : "%.3f", percent ? 100 * v : v);
        text(cr, p->x - 6, py(p, v) + 4, buf, 1.0);
    }
    for (int i = 1, every = (xticks + 9) / 10; i <= xticks; i++) {
        if (i % every && i != 1) continue; /* at most about ten labels */
        snprintf(buf, sizeof buf, "%d", i);
        text(cr, px(p, i), p->y + p->h + 16, buf, 0.5);
    }
    text(cr, p->x + p->w / 2, p->y + p->h + 34, "epoch", 0.5);
    cairo_set_font_size(cr, 14);
    text(cr, p->x + p->w / 2, p->y - 10, title, 0.5);
    cairo_save(cr);
    cairo_translate(cr, p->x - 62, p->y + p->h / 2);
    cairo_rotate(cr, -pi / 2);
    cairo_set_font_size(cr, 12);
    text(cr, 0, 0, ylabel, 0.5);
    cairo_restore(cr);
}

static void series(cairo_t *cr, const panel *p, const double *v, int n, double r, double g,
                   double b) {
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 2);
    for (int i = 0; i < n; i++) {
        if (i == 0)
            cairo_move_to(cr, px(p, i + 1), py(p, v[i]));
        else
            cairo_line_to(cr, px(p, i + 1), py(p, v[i]));
    }
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        cairo_arc(cr, px(p, i + 1), py(p, v[i]), 3.5, 0, 2 * pi);
        cairo_fill(cr);
    }
}

static void range(const double *a, const double *b, int n, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        *lo = fmin(*lo, fmin(a[i], b ? b[i] : a[i]));
        *hi = fmax(*hi, fmax(a[i], b ? b[i] : a[i]));
    }
    double pad = (*hi - *lo) * 0.1 + 1e-3;
    *lo -= pad;
    *hi += pad;
}

static void legend(cairo_t *cr, double x, double y, const char *name, double r, double g,
                   double b) {
    cairo_set_source_rgb(cr, r, g, b);
    cairo_rectangle(cr, x, y - 9, 14, 4);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    text(cr, x + 20, y - 3, name, 0);
}

int plot_training(const char *path, const double *loss, const double *train_acc,
                  const double *test_acc, int epochs) {
    if (epochs < 1) return -1;
    cairo_t *cr = canvas(1000, 420);
    double xmax = epochs > 1 ? epochs + 0.3 : 1.7, lo, hi;
    range(loss, NULL, epochs, &lo, &hi);
    panel left = {90, 50, 370, 290, 0.7, xmax, lo, hi};
    axes(cr, &left, "Training loss (mean per epoch)", "cross-entropy", epochs, false);
    series(cr, &left, loss, epochs, 0.12, 0.47, 0.71);
    range(train_acc, test_acc, epochs, &lo, &hi);
    panel right = {590, 50, 370, 290, 0.7, xmax, lo, fmin(hi, 1.0)};
    axes(cr, &right, "Accuracy", "accuracy", epochs, true);
    series(cr, &right, train_acc, epochs, 0.12, 0.47, 0.71);
    series(cr, &right, test_acc, epochs, 0.85, 0.37, 0.01);
    cairo_set_font_size(cr, 12);
    legend(cr, right.x + 10, right.y + right.h + 52, "training (running, with dropout)", 0.12, 0.47,
           0.71);
    legend(cr, right.x + 230, right.y + right.h + 52, "test", 0.85, 0.37, 0.01);
    return finish(cr, path);
}

int plot_comparison(const char *path, const char *title, const double *a, const char *a_name,
                    const double *b, const char *b_name, int epochs) {
    if (epochs < 1) return -1;
    cairo_t *cr = canvas(560, 440);
    double lo, hi;
    range(a, b, epochs, &lo, &hi);
    panel p = {90, 50, 430, 290, 0.7, epochs > 1 ? epochs + 0.3 : 1.7, lo, fmin(hi, 1.0)};
    axes(cr, &p, title, "accuracy", epochs, true);
    series(cr, &p, a, epochs, 0.85, 0.37, 0.01);
    series(cr, &p, b, epochs, 0.12, 0.47, 0.71);
    cairo_set_font_size(cr, 12);
    legend(cr, p.x + 10, p.y + p.h + 60, a_name, 0.85, 0.37, 0.01);
    legend(cr, p.x + 230, p.y + p.h + 60, b_name, 0.12, 0.47, 0.71);
    return finish(cr, path);
}

int plot_filters(const char *path, const float *w, int count, int channels, int kh, int kw) {
    if (count < 1) return -1;
    const int cell = 48, gap = 6, cols = count < 8 ? count : 8, rows = (count + cols - 1) / cols;
    int tile_w = channels * kw * cell / (kh > kw ? kh : kw);
    int width = cols * (tile_w + gap) + gap, height = rows * (cell + gap) + gap;
    double scale = 1e-12; /* one colour scale for all filters, so they compare */
    for (int i = 0; i < count * channels * kh * kw; i++)
        scale = fmax(scale, fabs(w[i]));
    cairo_t *cr = canvas(width, height);
    cairo_set_source_rgb(cr, 0.5, 0.5, 0.5); /* grey between the tiles */
    cairo_paint(cr);
    double pw = (double)cell / (kh > kw ? kh : kw);
    for (int f = 0; f < count; f++) {
        double x0 = gap + (f % cols) * (tile_w + gap), y0 = gap + (f / cols) * (cell + gap);
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++) {
                    double v = w[((f * channels + c) * kh + y) * kw + x] / scale;
                    double r = v > 0 ? 1 : 1 + v, b = v < 0 ? 1 : 1 - v, g = 1 - fabs(v);
                    cairo_set_source_rgb(cr, r, g, b);
                    cairo_rectangle(cr, x0 + (c * kw + x) * pw, y0 + y * pw, pw, pw);
                    cairo_fill(cr);
                }
    }
    return finish(cr, path);
}

/* A class's colour: background dark, then distinct hues. */
static void class_colour(int c, double *r, double *g, double *b) {
    static const double palette[6][3] = {{0.1, 0.1, 0.12},   {0.90, 0.35, 0.15}, {0.20, 0.55, 0.85},
                                         {0.35, 0.75, 0.30}, {0.85, 0.75, 0.20}, {0.6, 0.3, 0.7}};
    const double *p = palette[c % 6];
    *r = p[0], *g = p[1], *b = p[2];
}

int plot_segmentation(const char *path, const float *images, const int *predicted, const int *truth,
                      int count, int h, int w) {
    if (count < 1) return -1;
    const int scale = 4, gap = 8, top = 28, cw = w * scale, ch = h * scale;
    int width = 3 * cw + 4 * gap, height = top + count * (ch + gap);
    cairo_t *cr = canvas(width, height);
    cairo_set_font_size(cr, 13);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    const char *titles[3] = {"input", "prediction", "truth"};
    for (int col = 0; col < 3; col++)
        text(cr, gap + col * (cw + gap) + cw / 2.0, 18, titles[col], 0.5);
    for (int n = 0; n < count; n++) {
        double y0 = top + n * (ch + gap);
        const float *img = images + (size_t)n * h * w;
        float lo = img[0], hi = img[0];
        for (int i = 1; i < h * w; i++)
            lo = fminf(lo, img[i]), hi = fmaxf(hi, img[i]);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                double v = hi > lo ? (img[i] - lo) / (hi - lo) : 0.5, r, g, b;
                cairo_set_source_rgb(cr, v, v, v);
                cairo_rectangle(cr, gap + x * scale, y0 + y * scale, scale, scale);
                cairo_fill(cr);
                for (int col = 1; col < 3; col++) {
                    const int *mask = (col == 1 ? predicted : truth) + (size_t)n * h * w;
                    class_colour(mask[i], &r, &g, &b);
                    cairo_set_source_rgb(cr, r, g, b);
                    cairo_rectangle(cr, gap + col * (cw + gap) + x * scale, y0 + y * scale, scale,
                                    scale);
                    cairo_fill(cr);
                }
            }
    }
    return finish(cr, path);
}

int plot_signals(const char *path, const float *x, int count, int len,
                 const char *const *captions) {
    if (count < 1 || len < 2) return -1;
    const int width = 900, row = 110, top = 10;
    cairo_t *cr = canvas(width, top + count * row);
    cairo_set_font_size(cr, 12);
    for (int n = 0; n < count; n++) {
        const float *v = x + (size_t)n * len;
        double lo = v[0], hi = v[0], y0 = top + n * row + 18, h = row - 28;
        for (int i = 1; i < len; i++)
            lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
        if (hi <= lo) hi = lo + 1;
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        text(cr, 20, y0 - 4, captions[n], 0);
        cairo_set_source_rgb(cr, 0.92, 0.92, 0.92);
        cairo_rectangle(cr, 20, y0, width - 40, h);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.12, 0.47, 0.71);
        cairo_set_line_width(cr, 1.3);
        for (int i = 0; i < len; i++) {
            double px = 20 + (width - 40) * (double)i / (len - 1);
            double py = y0 + h - h * (v[i] - lo) / (hi - lo);
            if (i)
                cairo_line_to(cr, px, py);
            else
                cairo_move_to(cr, px, py);
        }
        cairo_stroke(cr);
    }
    return finish(cr, path);
}

/* A grid of count images of channels x h x w floats: grey ones on the
 * scale lo..hi, colour ones (channels 3, planes R, G, B) clamped to 0..1. */
static int image_grid(const char *path, const float *images, int count, int cols, int channels,
                      int h, int w, const char *const *captions, float lo, float hi) {
    if (count < 1 || cols < 1) return -1;
    const int side = h > w ? h : w, scale = (96 + side - 1) / side, gap = 10, cap = 18;
    int rows = (count + cols - 1) / cols, cw = w * scale, ch = h * scale;
    int width = cols * (cw + gap) + gap, height = rows * (ch + gap + cap) + gap;
    cairo_t *cr = canvas(width, height);
    cairo_set_font_size(cr, 11);
    size_t plane = (size_t)h * w;
    for (int n = 0; n < count; n++) {
        double x0 = gap + (n % cols) * (cw + gap), y0 = gap + (n / cols) * (ch + gap + cap) + cap;
        const float *img = images + (size_t)n * channels * plane;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v[3];
                for (int c = 0; c < 3; c++) {
                    double raw = img[(channels == 3 ? c * plane : 0) + (size_t)y * w + x];
                    v[c] = hi > lo ? fmin(fmax((raw - lo) / (hi - lo), 0), 1) : 0.5;
                }
                cairo_set_source_rgb(cr, v[0], v[1], v[2]);
                cairo_rectangle(cr, x0 + x * scale, y0 + y * scale, scale, scale);
                cairo_fill(cr);
            }
        if (captions && captions[n]) {
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            text(cr, x0, y0 - 5, captions[n], 0);
        }
    }
    return finish(cr, path);
}

int plot_images(const char *path, const float *images, int count, int cols, int h, int w,
                const char *const *captions) {
    if (count < 1) return -1;
    float lo = images[0], hi = images[0]; /* one grey scale for all, so they compare */
    for (size_t i = 1; i < (size_t)count * h * w; i++)
        lo = fminf(lo, images[i]), hi = fmaxf(hi, images[i]);
    return image_grid(path, images, count, cols, 1, h, w, captions, lo, hi);
}

int plot_rgb_images(const char *path, const float *images, int count, int cols, int h, int w,
                    const char *const *captions) {
    return image_grid(path, images, count, cols, 3, h, w, captions, 0, 1);
}

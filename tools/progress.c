/* The progress bar declared in progress.h. */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void progress_start(progress *p, FILE *out, const char *label, int64_t total) {
    p->out = out;
    p->tty = isatty(fileno(out));
    p->total = total;
    p->start = progress_now();
    p->last_draw = 0;
    snprintf(p->label, sizeof p->label, "%s", label);
}

void progress_update(progress *p, int64_t done, const char *figures) {
    if (!p->tty) return;
    double now = progress_now();
    if (done < p->total && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int filled = p->total ? (int)(WIDTH * done / p->total) : WIDTH;
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[WIDTH] = '\0';
    double elapsed = now - p->start;
    double left = done ? elapsed * (double)(p->total - done) / (double)done : 0;
    fprintf(p->out, "\r\033[K%s [%s] %lld/%lld  %s  ETA %d:%02d", p->label, bar, (long long)done,
            (long long)p->total, figures, (int)left / 60, (int)left % 60);
    fflush(p->out);
}

void progress_end(progress *p) {
    if (!p->tty) return;
    fprintf(p->out, "\r\033[K");
    fflush(p->out);
}

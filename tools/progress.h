/* A one-line progress bar for long loops on a terminal: done/total, a bar,
 * the caller's figures and the time left. Off a terminal it prints nothing,
 * so logs stay clean. */
#ifndef NNCL_TOOLS_PROGRESS_H
#define NNCL_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress {
    FILE *out;
    bool tty;
    int64_t total;
    double start, last_draw;
    char label[64];
} progress;

double progress_now(void);
void progress_start(progress *p, FILE *out, const char *label, int64_t total);
/* Redraws at most ten times a second; `figures` is shown after the bar. */
void progress_update(progress *p, int64_t done, const char *figures);
/* Clears the line. */
void progress_end(progress *p);

#endif

#define _POSIX_C_SOURCE 200809L /* clock_gettime, fileno */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_format_duration(double seconds, char *buf, size_t cap) {
    if (seconds < 0) seconds = 0;
    long s = (long)(seconds + 0.5);
    if (s < 60) snprintf(buf, cap, "%lds", s);
    else if (s < 3600) snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, cap, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
}

void cli_progress_start(cli_progress *p, const char *label, int64_t total, int enabled) {
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->t_start = cli_now();
    p->enabled = enabled;
    p->on_tty = isatty(fileno(stderr));
    p->drawn = 0;
}

void cli_progress_update(cli_progress *p, int64_t done, const char *extra) {
    if (!p->enabled) return;
    if (done > p->total) done = p->total;
    double elapsed = cli_now() - p->t_start;
    char eta[32];
    if (done > 0) cli_format_duration(elapsed / (double)done * (double)(p->total - done), eta, sizeof eta);
    else snprintf(eta, sizeof eta, "?");
    int filled = (int)(BAR_WIDTH * done / p->total);
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "%s%s [%s] %lld/%lld ETA %s%s%s%s", p->on_tty ? "\r" : "", p->label, bar, (long long)done,
            (long long)p->total, eta, extra ? " " : "", extra ? extra : "", p->on_tty ? "\033[K" : "\n");
    fflush(stderr);
    p->drawn = p->on_tty;
}

void cli_progress_finish(cli_progress *p) {
    if (!p->enabled) return;
    char took[32];
    cli_format_duration(cli_now() - p->t_start, took, sizeof took);
    fprintf(stderr, "%s%s: done in %s\n", p->drawn ? "\n" : "", p->label, took);
    p->drawn = 0;
}

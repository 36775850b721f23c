/* A one-line progress bar with an ETA for long CLI jobs, drawn on stderr.
 * On a terminal it redraws in place; otherwise each update is one line, so
 * logs stay readable. */
#ifndef EF_CLI_PROGRESS_H
#define EF_CLI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_progress {
    const char *label;  /* "perplexity" */
    int64_t total;      /* steps in the job */
    double t_start;     /* monotonic seconds at start */
    int enabled;        /* 0: draws nothing */
    int on_tty;         /* redraw in place */
    int drawn;          /* a bar is on the current line */
} cli_progress;

/* Monotonic clock in seconds. */
double cli_now(void);

/* Formats a duration as "12s", "3m05s" or "1h02m". */
void cli_format_duration(double seconds, char *buf, size_t cap);

void cli_progress_start(cli_progress *p, const char *label, int64_t total, int enabled);
/* Shows `done` of `total` steps, the ETA from the mean time per step so far,
 * and `extra` (may be NULL), e.g. the running perplexity. */
void cli_progress_update(cli_progress *p, int64_t done, const char *extra);
/* Ends the bar's line (on a terminal) and prints the elapsed time. */
void cli_progress_finish(cli_progress *p);

#endif

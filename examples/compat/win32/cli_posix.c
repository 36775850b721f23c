/* Windows implementations for cli_posix.h and sys/resource.h. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <psapi.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli_posix.h"
#include "sys/resource.h"

ssize_t getline(char **line, size_t *cap, FILE *stream) {
    if (!line || !cap || !stream) {
        errno = EINVAL;
        return -1;
    }
    size_t n = 0;
    int c;
    while ((c = fgetc(stream)) != EOF) {
        if (n + 2 > *cap || !*line) {
            size_t grown = *cap < 64 ? 128 : *cap * 2;
            char *p = realloc(*line, grown);
            if (!p) {
                errno = ENOMEM;
                return -1;
            }
            *line = p;
            *cap = grown;
        }
        (*line)[n++] = (char)c;
        if (c == '\n') break;
    }
    if (n == 0) return -1; /* EOF before any byte */
    (*line)[n] = '\0';
    return (ssize_t)n;
}

int getrusage(int who, struct rusage *usage) {
    if (who != RUSAGE_SELF || !usage) {
        errno = EINVAL;
        return -1;
    }
    PROCESS_MEMORY_COUNTERS pmc;
    usage->ru_maxrss = 0;
    if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) return -1;
    usage->ru_maxrss = (long)(pmc.PeakWorkingSetSize / 1024);
    return 0;
}

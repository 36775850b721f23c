/* getrusage() for the CLI on Windows (mingw has no <sys/resource.h>): only
 * RUSAGE_SELF's peak resident set, from the process's peak working set. */
#ifndef EF_COMPAT_SYS_RESOURCE_H
#define EF_COMPAT_SYS_RESOURCE_H

#define RUSAGE_SELF 0

struct rusage {
    long ru_maxrss; /* KiB, as on Linux */
};

int getrusage(int who, struct rusage *usage);

#endif

/* POSIX functions the CLI uses that mingw-w64 lacks; force-included (-include)
 * into the CLI's sources on Windows only, implemented in cli_posix.c. */
#ifndef EF_COMPAT_CLI_POSIX_H
#define EF_COMPAT_CLI_POSIX_H

#include <stdio.h>
#include <sys/types.h>

/* POSIX getline: reads one line including '\n' into *line (grown with realloc). */
ssize_t getline(char **line, size_t *cap, FILE *stream);

#endif

/* `edgeformer serve` for builds without the server's dependencies (cJSON and
 * libmicrohttpd; e.g. Windows, where Debian has neither for mingw). */
#include <stdio.h>

#include "cli.h"

int cmd_serve(int argc, char **argv) {
    (void)argc, (void)argv;
    fputs("edgeformer serve: not available in this build (it needs cJSON and libmicrohttpd; "
          "configured with EF_WITH_CJSON=OFF)\n", stderr);
    return 1;
}

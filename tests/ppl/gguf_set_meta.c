/* gguf_set_meta IN OUT [--bool KEY 0|1] [--str KEY VALUE] ...: copies a GGUF
 * file with changed metadata (test fixtures). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_copy_meta.h"

#define MAX_EDITS 16

int main(int argc, char **argv) {
    if (argc < 3) {
        fputs("usage: gguf_set_meta IN OUT [--bool KEY 0|1] [--str KEY VALUE] ...\n", stderr);
        return 2;
    }
    meta_edit edits[MAX_EDITS];
    size_t n = 0;
    for (int i = 3; i < argc; i += 3) {
        if (i + 2 >= argc || n == MAX_EDITS || (strcmp(argv[i], "--bool") && strcmp(argv[i], "--str"))) {
            fprintf(stderr, "gguf_set_meta: bad arguments at '%s'\n", argv[i]);
            return 2;
        }
        edits[n].key = argv[i + 1];
        edits[n].is_bool = !strcmp(argv[i], "--bool");
        edits[n].bool_value = atoi(argv[i + 2]);
        edits[n].str_value = argv[i + 2];
        n++;
    }
    if (gguf_copy_with_meta(argv[1], argv[2], edits, n) != EF_OK) {
        fprintf(stderr, "gguf_set_meta: %s\n", ef_err_msg());
        return 1;
    }
    return 0;
}

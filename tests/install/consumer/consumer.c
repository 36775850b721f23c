/* An application built against the installed library. */
#include <edgeformer/edgeformer.h>
#include <stdio.h>

int main(int argc, char **argv) {
    printf("version %s\n", ef_version_string());
    if (argc < 2) return 0;
    ef_model *m = NULL;
    ef_status st = ef_model_load(argv[1], NULL, &m);
    if (st != EF_OK) {
        fprintf(stderr, "%s\n", ef_last_error());
        return 1;
    }
    printf("arch %s, %llu parameters\n", ef_model_arch(m), (unsigned long long)ef_model_n_params(m));
    ef_model_free(m);
    return 0;
}

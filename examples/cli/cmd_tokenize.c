/* edgeformer tokenize: token ids and pieces of a text. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL, *text = NULL;
    int json = 0, bos = 1, special = 1;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "-m", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "-p", &text)) ||
            (r = cli_opt_str(argc, argv, &i, "--prompt", &text))) {
            if (r < 0) return cli_usage_error("tokenize: option %s needs a value", argv[i]);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--no-bos")) {
            bos = 0;
        } else if (!strcmp(argv[i], "--no-special")) {
            special = 0;
        } else {
            return cli_usage_error("tokenize: unknown option '%s'", argv[i]);
        }
    }
    if (!model_path || !text) return cli_usage_error("tokenize: -m MODEL and -p TEXT are required");
    cli_setup_logging(EF_LOG_WARN);
    ef_model *m = cli_load_model(model_path, 1, 0);
    if (!m) return 1;

    uint32_t flags = (bos ? EF_TOKENIZE_ADD_SPECIAL : 0) | (special ? EF_TOKENIZE_PARSE_SPECIAL : 0);
    size_t n = 0, len = strlen(text);
    int rc = 1;
    int32_t *ids = NULL;
    ef_status st = ef_tokenize(m, text, len, flags, NULL, 0, &n);
    if (st == EF_OK || st == EF_ERR_BUFFER_TOO_SMALL) {
        ids = malloc((n ? n : 1) * sizeof *ids);
        st = ids ? ef_tokenize(m, text, len, flags, ids, n, &n) : EF_ERR_NO_MEMORY;
    }
    if (st != EF_OK) {
        cli_fail("tokenize", st);
        goto done;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *a = cJSON_AddArrayToObject(o, "tokens");
        cJSON *p = cJSON_AddArrayToObject(o, "pieces");
        for (size_t i = 0; i < n; i++) {
            cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
            const char *piece = ef_token_text(m, ids[i]);
            cJSON_AddItemToArray(p, cJSON_CreateString(piece ? piece : ""));
        }
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        for (size_t i = 0; i < n; i++) {
            const char *piece = ef_token_text(m, ids[i]);
            printf("%6d  '%s'\n", (int)ids[i], piece ? piece : "");
        }
        printf("%zu tokens\n", n);
    }
    rc = 0;
done:
    free(ids);
    ef_model_free(m);
    return rc;
}

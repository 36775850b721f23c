/* The smallest embedding of libedgeformer: load a model, generate, free.
 * Build: cc embed.c $(pkg-config --cflags --libs edgeformer)
 * Run:   ./embed model.gguf "Once upon a time" */
#include <edgeformer/edgeformer.h>
#include <stdio.h>
#include <string.h>

static int32_t print_token(void *user, int32_t token, const char *text, size_t len) {
    (void)user;
    (void)token;
    fwrite(text, 1, len, stdout);
    return 0; /* keep going */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT\n", argv[0]);
        return 2;
    }
    ef_model *model = NULL;
    ef_session *session = NULL;
    ef_status st = ef_model_load(argv[1], NULL, &model);
    if (st != EF_OK) {
        fprintf(stderr, "load failed: %s (%s)\n", ef_last_error(), ef_status_str(st));
        return 1;
    }
    st = ef_session_create(model, NULL, &session);
    if (st == EF_OK) st = ef_session_generate(session, argv[2], strlen(argv[2]), 32, print_token, NULL);
    if (st != EF_OK)
        fprintf(stderr, "\ngeneration failed: %s (%s)\n",
                session ? ef_session_errmsg(session) : ef_last_error(), ef_status_str(st));
    else
        putchar('\n');
    ef_session_free(session);
    ef_model_free(model); /* order does not matter: sessions hold a reference */
    return st == EF_OK ? 0 : 1;
}

/* edgeformer info: a model's summary, metadata and tensor table. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Metadata value as text via the two-call pattern; caller frees. */
static char *meta_value(const ef_model *m, const char *key) {
    size_t need = 0;
    ef_status st = ef_model_meta_get(m, key, NULL, 0, &need);
    if (st != EF_ERR_BUFFER_TOO_SMALL && st != EF_OK) return NULL;
    char *buf = malloc(need ? need : 1);
    if (buf && ef_model_meta_get(m, key, buf, need, &need) != EF_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

static char *meta_key(const ef_model *m, int64_t i) {
    size_t need = 0;
    ef_model_meta_key(m, i, NULL, 0, &need);
    char *buf = malloc(need ? need : 1);
    if (buf && ef_model_meta_key(m, i, buf, need, &need) != EF_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void shape_str(int32_t n_dims, const int64_t ne[4], char *out, size_t cap) {
    size_t len = 0;
    out[0] = '\0';
    for (int32_t d = 0; d < n_dims && len < cap; d++)
        len += (size_t)snprintf(out + len, cap - len, d ? " x %lld" : "%lld", (long long)ne[d]);
}

/* The mode a default session gets (EF_MATMUL_MODE or weight-only). */
static const char *default_matmul_mode(void) {
    const char *env = getenv("EF_MATMUL_MODE");
    return env && !strcmp(env, "integer-dot") ? "integer-dot" : "weight-only";
}

/* "F32 x5, Q8_0 x14": how the weights are stored (after any load-time quantization). */
static void print_type_counts(const ef_model *m, const char *quant) {
    int64_t counts[64] = {0};
    for (int64_t i = 0; i < ef_model_tensor_count(m); i++) {
        uint32_t type;
        if (ef_model_tensor_info(m, i, NULL, &type, NULL, NULL) == EF_OK && type < 64) counts[type]++;
    }
    printf("tensor types: ");
    const char *sep = "";
    for (uint32_t t = 0; t < 64; t++)
        if (counts[t]) {
            printf("%s%s x%lld", sep, ef_tensor_type_name(t), (long long)counts[t]);
            sep = ", ";
        }
    if (quant) printf(" (quantized at load with profile '%s')", quant);
    printf("\nexecution:    quantized matmuls run %s by default (sessions choose: weight-only or integer-dot)\n",
           default_matmul_mode());
}

int cmd_info(int argc, char **argv) {
    const char *model_path = NULL, *quant = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "-m", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--quant", &quant))) {
            if (r < 0) return cli_usage_error("info: option %s needs a value", argv[i]);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            return cli_usage_error("info: unknown option '%s'", argv[i]);
        }
    }
    if (!model_path) return cli_usage_error("info: -m MODEL is required");
    cli_setup_logging(EF_LOG_WARN);
    ef_model *m = cli_load_model_quant(model_path, 1, 0, quant);
    if (!m) return 1;

    int64_t n_kv = ef_model_meta_count(m), n_t = ef_model_tensor_count(m);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "architecture", ef_model_arch(m));
        cJSON_AddNumberToObject(o, "parameters", (double)ef_model_n_params(m));
        cJSON_AddNumberToObject(o, "size_bytes", (double)ef_model_size_bytes(m));
        cJSON_AddNumberToObject(o, "context_length", ef_model_n_ctx_train(m));
        cJSON_AddNumberToObject(o, "vocab_size", ef_model_n_vocab(m));
        cJSON_AddNumberToObject(o, "embedding_length", ef_model_n_embd(m));
        cJSON_AddNumberToObject(o, "block_count", ef_model_n_layer(m));
        cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
        for (int64_t i = 0; i < n_kv; i++) {
            char *k = meta_key(m, i), *v = k ? meta_value(m, k) : NULL;
            if (k && v) cJSON_AddStringToObject(meta, k, v);
            free(k);
            free(v);
        }
        cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
        for (int64_t i = 0; i < n_t; i++) {
            const char *name;
            uint32_t type;
            int32_t nd;
            int64_t ne[4];
            if (ef_model_tensor_info(m, i, &name, &type, &nd, ne) != EF_OK) continue;
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "name", name);
            cJSON_AddStringToObject(t, "type", ef_tensor_type_name(type));
            cJSON *shape = cJSON_AddArrayToObject(t, "shape");
            for (int32_t d = 0; d < nd; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)ne[d]));
            cJSON_AddItemToArray(ts, t);
        }
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        printf("model:        %s\n", model_path);
        printf("architecture: %s\n", ef_model_arch(m));
        printf("parameters:   %llu (%.2f M)\n", (unsigned long long)ef_model_n_params(m),
               (double)ef_model_n_params(m) / 1e6);
        printf("weights:      %.2f MiB\n", (double)ef_model_size_bytes(m) / (1024.0 * 1024.0));
        printf("context:      %d (training)\n", (int)ef_model_n_ctx_train(m));
        printf("vocabulary:   %d\n", (int)ef_model_n_vocab(m));
        printf("layers:       %d, embedding %d\n", (int)ef_model_n_layer(m), (int)ef_model_n_embd(m));
        print_type_counts(m, quant);
        printf("\nmetadata (%lld keys):\n", (long long)n_kv);
        for (int64_t i = 0; i < n_kv; i++) {
            char *k = meta_key(m, i), *v = k ? meta_value(m, k) : NULL;
            if (k && v) printf("  %-44s = %s\n", k, v);
            free(k);
            free(v);
        }
        printf("\ntensors (%lld):\n", (long long)n_t);
        printf("  %-36s %-6s %s\n", "name", "type", "shape");
        for (int64_t i = 0; i < n_t; i++) {
            const char *name;
            uint32_t type;
            int32_t nd;
            int64_t ne[4];
            char shape[96];
            if (ef_model_tensor_info(m, i, &name, &type, &nd, ne) != EF_OK) continue;
            shape_str(nd, ne, shape, sizeof shape);
            printf("  %-36s %-6s %s\n", name, ef_tensor_type_name(type), shape);
        }
    }
    ef_model_free(m);
    return 0;
}

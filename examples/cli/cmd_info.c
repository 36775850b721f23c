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

/* The sparse-MLP line: calibrated thresholds, masks, ReLU FFN (docs/sparsity.md). */
static void print_sparsity(const ef_model *m) {
    float level = 0.0f;
    const uint32_t f = ef_model_sparsity(m, &level);
    printf("sparsity:     ");
    if (!f) printf("none (dense FFN; calibrate with `edgeformer calibrate-sparsity`)");
    if (f & EF_SPARSITY_THRESHOLDS) printf("thresholds (default level %.2f) ", (double)level);
    if (f & EF_SPARSITY_MASKED) printf("masked (pruned neurons dropped at load) ");
    if (f & EF_SPARSITY_RELU) printf("relu (exact zeros)");
    printf("\n");
}

static void add_sparsity_json(cJSON *o, const ef_model *m) {
    float level = 0.0f;
    const uint32_t f = ef_model_sparsity(m, &level);
    cJSON *s = cJSON_AddObjectToObject(o, "sparsity");
    cJSON_AddBoolToObject(s, "thresholds", (f & EF_SPARSITY_THRESHOLDS) != 0);
    cJSON_AddBoolToObject(s, "masked", (f & EF_SPARSITY_MASKED) != 0);
    cJSON_AddBoolToObject(s, "relu", (f & EF_SPARSITY_RELU) != 0);
    cJSON_AddNumberToObject(s, "default_level", level);
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

/* Memory as "31.3 GiB" / "512 MiB" / "-" (unknown). */
static void memory_str(uint64_t bytes, char *out, size_t cap) {
    if (!bytes)
        snprintf(out, cap, "-");
    else if (bytes >= (1ull << 30))
        snprintf(out, cap, "%.1f GiB", (double)bytes / (double)(1ull << 30));
    else
        snprintf(out, cap, "%.0f MiB", (double)bytes / (double)(1ull << 20));
}

/* edgeformer info --backends: every backend found, usable or not, and why. */
static void print_backends(int json) {
    const int32_t n = ef_backend_count();
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (int32_t i = 0; i < n; i++) {
            const ef_backend *b = NULL;
            if (ef_backend_get(i, &b) != EF_OK) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", ef_backend_name(b));
            cJSON_AddBoolToObject(o, "available", ef_backend_available(b));
            cJSON_AddStringToObject(o, "device", ef_backend_device(b));
            cJSON_AddNumberToObject(o, "memory", (double)ef_backend_memory(b));
            cJSON_AddNumberToObject(o, "score", ef_backend_score(b));
            cJSON_AddStringToObject(o, "reason", ef_backend_unavailable_reason(b));
            cJSON_AddStringToObject(o, "path", ef_backend_path(b));
            cJSON_AddItemToArray(arr, o);
        }
        char *s = cJSON_PrintUnformatted(arr);
        if (s) puts(s);
        cJSON_free(s);
        cJSON_Delete(arr);
        return;
    }
    const char *env = getenv("EF_BACKEND");
    printf("backends (auto picks the highest score among available ones; EF_BACKEND=%s):\n",
           env && *env ? env : "(unset)");
    printf("  %-14s %-9s %5s  %-9s  %s  [%s]\n", "name", "available", "score", "memory", "device / why unavailable",
           "path");
    for (int32_t i = 0; i < n; i++) {
        const ef_backend *b = NULL;
        if (ef_backend_get(i, &b) != EF_OK) continue;
        char mem[32];
        memory_str(ef_backend_memory(b), mem, sizeof mem);
        const int ok = ef_backend_available(b);
        const char *path = ef_backend_path(b);
        printf("  %-14s %-9s %5d  %-9s  %s  [%s]\n", ef_backend_name(b), ok ? "yes" : "no", (int)ef_backend_score(b),
               ok ? mem : "-", ok ? ef_backend_device(b) : ef_backend_unavailable_reason(b),
               *path ? path : "built in");
    }
}

int cmd_info(int argc, char **argv) {
    const char *model_path = NULL, *quant = NULL;
    int json = 0, backends = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "-m", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--quant", &quant))) {
            if (r < 0) return cli_usage_error("info: option %s needs a value", argv[i]);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--backends")) {
            backends = 1;
        } else {
            return cli_usage_error("info: unknown option '%s'", argv[i]);
        }
    }
    if (backends) {
        cli_setup_logging(EF_LOG_WARN);
        print_backends(json);
        return 0;
    }
    if (!model_path) return cli_usage_error("info: -m MODEL (or --backends) is required");
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
        add_sparsity_json(o, m);
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
        print_sparsity(m);
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

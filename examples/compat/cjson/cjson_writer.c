/* Output-only stand-in for cJSON (see cJSON.h here): builds a tree and prints
 * it compactly. Used by the CLI only when the real cJSON is absent. */
#include "cJSON.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EF_JSON_NULL, EF_JSON_FALSE, EF_JSON_TRUE, EF_JSON_NUMBER, EF_JSON_STRING, EF_JSON_ARRAY, EF_JSON_OBJECT };

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

static cJSON *new_item(int type) {
    cJSON *item = calloc(1, sizeof *item);
    if (item) item->type = type;
    return item;
}

cJSON *cJSON_CreateObject(void) { return new_item(EF_JSON_OBJECT); }
cJSON *cJSON_CreateArray(void) { return new_item(EF_JSON_ARRAY); }
cJSON *cJSON_CreateBool(cJSON_bool b) { return new_item(b ? EF_JSON_TRUE : EF_JSON_FALSE); }

cJSON *cJSON_CreateNumber(double num) {
    cJSON *item = new_item(EF_JSON_NUMBER);
    if (item) item->valuedouble = num;
    return item;
}

cJSON *cJSON_CreateString(const char *string) {
    cJSON *item = new_item(EF_JSON_STRING);
    if (item && !(item->valuestring = copy_string(string ? string : ""))) {
        free(item);
        return NULL;
    }
    return item;
}

void cJSON_Delete(cJSON *item) {
    while (item) {
        cJSON *next = item->next;
        cJSON_Delete(item->child);
        free(item->string);
        free(item->valuestring);
        free(item);
        item = next;
    }
}

void cJSON_free(void *object) { free(object); }

cJSON_bool cJSON_AddItemToArray(cJSON *array, cJSON *item) {
    if (!array || !item) return 0;
    cJSON **tail = &array->child;
    while (*tail) tail = &(*tail)->next;
    *tail = item;
    return 1;
}

cJSON_bool cJSON_AddItemToObject(cJSON *object, const char *name, cJSON *item) {
    if (!object || !name || !item) return 0;
    char *key = copy_string(name);
    if (!key) return 0;
    free(item->string);
    item->string = key;
    return cJSON_AddItemToArray(object, item);
}

/* Adds `item` under `name`; frees it and returns NULL if that fails. */
static cJSON *add_or_drop(cJSON *object, const char *name, cJSON *item) {
    if (item && cJSON_AddItemToObject(object, name, item)) return item;
    cJSON_Delete(item);
    return NULL;
}

cJSON *cJSON_AddNumberToObject(cJSON *o, const char *name, double n) { return add_or_drop(o, name, cJSON_CreateNumber(n)); }
cJSON *cJSON_AddStringToObject(cJSON *o, const char *name, const char *s) { return add_or_drop(o, name, cJSON_CreateString(s)); }
cJSON *cJSON_AddBoolToObject(cJSON *o, const char *name, cJSON_bool b) { return add_or_drop(o, name, cJSON_CreateBool(b)); }
cJSON *cJSON_AddObjectToObject(cJSON *o, const char *name) { return add_or_drop(o, name, cJSON_CreateObject()); }
cJSON *cJSON_AddArrayToObject(cJSON *o, const char *name) { return add_or_drop(o, name, cJSON_CreateArray()); }

/* A growing output buffer; `failed` sticks after the first allocation failure. */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} out_buf;

static void put(out_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->len + n + 1 > cap) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void put_str(out_buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_quoted(out_buf *b, const char *s) {
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': put_str(b, "\\\""); break;
        case '\\': put_str(b, "\\\\"); break;
        case '\n': put_str(b, "\\n"); break;
        case '\r': put_str(b, "\\r"); break;
        case '\t': put_str(b, "\\t"); break;
        case '\b': put_str(b, "\\b"); break;
        case '\f': put_str(b, "\\f"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                put_str(b, esc);
            } else {
                put(b, (const char *)p, 1); /* UTF-8 bytes pass through */
            }
        }
    }
    put(b, "\"", 1);
}

static void put_number(out_buf *b, double d) {
    char num[40];
    if (!isfinite(d))
        snprintf(num, sizeof num, "null"); /* JSON has no NaN/Inf */
    else if (d == (double)(long long)d && fabs(d) < 1e15)
        snprintf(num, sizeof num, "%lld", (long long)d);
    else
        snprintf(num, sizeof num, "%.17g", d);
    put_str(b, num);
}

static void print_item(out_buf *b, const cJSON *item) {
    switch (item->type) {
    case EF_JSON_NULL: put_str(b, "null"); break;
    case EF_JSON_FALSE: put_str(b, "false"); break;
    case EF_JSON_TRUE: put_str(b, "true"); break;
    case EF_JSON_NUMBER: put_number(b, item->valuedouble); break;
    case EF_JSON_STRING: put_quoted(b, item->valuestring); break;
    default: {
        const int is_object = item->type == EF_JSON_OBJECT;
        put_str(b, is_object ? "{" : "[");
        for (const cJSON *c = item->child; c; c = c->next) {
            if (c != item->child) put_str(b, ",");
            if (is_object) {
                put_quoted(b, c->string ? c->string : "");
                put_str(b, ":");
            }
            print_item(b, c);
        }
        put_str(b, is_object ? "}" : "]");
    }
    }
}

char *cJSON_PrintUnformatted(const cJSON *item) {
    if (!item) return NULL;
    out_buf b = {0};
    print_item(&b, item);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

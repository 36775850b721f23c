/* The subset of cJSON's API that the CLI uses to *write* --json output, for
 * builds without cJSON (EF_WITH_CJSON=OFF, e.g. Windows, where Debian has no
 * mingw cJSON). Same names and signatures as cJSON 1.7, own implementation
 * (cjson_writer.c): objects, arrays, numbers, strings and booleans, printed
 * unformatted. Nothing here parses JSON. */
#ifndef EF_COMPAT_CJSON_H
#define EF_COMPAT_CJSON_H

typedef int cJSON_bool;

typedef struct cJSON {
    struct cJSON *next;  /* next sibling */
    struct cJSON *child; /* first member / element (objects, arrays) */
    int type;            /* EF_JSON_* in cjson_writer.c */
    char *string;        /* member name inside an object, else NULL */
    char *valuestring;   /* strings */
    double valuedouble;  /* numbers; 0/1 for booleans */
} cJSON;

cJSON *cJSON_CreateObject(void);
cJSON *cJSON_CreateArray(void);
cJSON *cJSON_CreateNumber(double num);
cJSON *cJSON_CreateString(const char *string);
cJSON *cJSON_CreateBool(cJSON_bool boolean);

cJSON_bool cJSON_AddItemToArray(cJSON *array, cJSON *item);
cJSON_bool cJSON_AddItemToObject(cJSON *object, const char *name, cJSON *item);
cJSON *cJSON_AddNumberToObject(cJSON *object, const char *name, double number);
cJSON *cJSON_AddStringToObject(cJSON *object, const char *name, const char *string);
cJSON *cJSON_AddBoolToObject(cJSON *object, const char *name, cJSON_bool boolean);
cJSON *cJSON_AddObjectToObject(cJSON *object, const char *name);
cJSON *cJSON_AddArrayToObject(cJSON *object, const char *name);

/* Compact text, to be released with cJSON_free; NULL when out of memory. */
char *cJSON_PrintUnformatted(const cJSON *item);
void cJSON_Delete(cJSON *item);
void cJSON_free(void *object);

#endif

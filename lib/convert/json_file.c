/* The JSON files of a checkpoint folder, read whole and parsed with cJSON. */
#include <cJSON.h>
#include <string.h>

#include "base/alloc.h"
#include "base/platform.h"
#include "convert/convert.h"

char *ef_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = ef_malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

ef_status ef_json_read_file(const char *dir, const char *name, int optional, cJSON **out) {
    *out = NULL;
    char *path = ef_path_join(dir, name);
    if (!path) return ef_err(EF_ERR_NO_MEMORY, "out of memory reading %s", name);
    if (optional && !ef_file_exists(path)) {
        ef_free(path);
        return EF_OK;
    }
    ef_file_map map;
    ef_status st = ef_file_map_open(path, 0, &map);
    if (st == EF_OK) {
        *out = cJSON_ParseWithLength((const char *)map.data, (size_t)map.size);
        if (!*out) st = ef_err(EF_ERR_FORMAT, "%s is not valid JSON", path);
        ef_file_map_close(&map);
    }
    ef_free(path);
    return st;
}

/* safetensors reader: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the raw little-endian tensor bytes (offsets relative to the end of
 * the header). Every field is checked against the file before use. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "convert/convert.h"
#include "quant/types.h"

/* Beyond any real header; keeps a corrupt length from mapping a huge parse. */
#define EF_ST_MAX_HEADER (100ull << 20)
/* JSON numbers are doubles: integers above 2^53 are not exact. */
#define EF_ST_MAX_INT 9007199254740992.0

ef_status ef_st_set_create(ef_st_set **out) {
    *out = ef_calloc(1, sizeof **out);
    if (!*out) return ef_err(EF_ERR_NO_MEMORY, "safetensors: out of memory");
    return EF_OK;
}

void ef_st_set_free(ef_st_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->n_files; i++) {
        ef_file_map_close(&set->maps[i]);
        ef_free(set->file_names[i]);
    }
    for (size_t i = 0; i < set->n_tensors; i++) ef_free(set->tensors[i].name);
    ef_free(set->maps);
    ef_free(set->file_names);
    ef_free(set->tensors);
    ef_free(set);
}

const ef_st_tensor *ef_st_find(const ef_st_set *set, const char *name) {
    for (size_t i = 0; i < set->n_tensors; i++)
        if (strcmp(set->tensors[i].name, name) == 0) return &set->tensors[i];
    return NULL;
}

/* dtype string → EF_TYPE_*; -1 for dtypes safetensors knows but we do not
 * convert, -2 for strings that are no dtype at all. */
static int32_t dtype_of(const char *s, uint32_t *elem_size) {
    if (!strcmp(s, "F32")) { *elem_size = 4; return EF_TYPE_F32; }
    if (!strcmp(s, "F16")) { *elem_size = 2; return EF_TYPE_F16; }
    if (!strcmp(s, "BF16")) { *elem_size = 2; return EF_TYPE_BF16; }
    static const char *const k_known[] = {"F64", "I64", "U64", "I32", "U32", "I16", "U16", "I8",
                                          "U8", "BOOL", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",
                                          "F6_E2M3", "F6_E3M2", "C64"};
    for (size_t i = 0; i < sizeof k_known / sizeof *k_known; i++)
        if (!strcmp(s, k_known[i])) return -1;
    return -2;
}

/* A JSON number that is a non-negative integer below 2^53. */
static int json_index(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > EF_ST_MAX_INT || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static ef_status grow_tensors(ef_st_set *set) {
    if (set->n_tensors < set->cap_tensors) return EF_OK;
    size_t cap = set->cap_tensors ? set->cap_tensors * 2 : 64;
    ef_st_tensor *t = ef_realloc(set->tensors, cap * sizeof *t);
    if (!t) return ef_err(EF_ERR_NO_MEMORY, "safetensors: out of memory for the tensor list");
    set->tensors = t;
    set->cap_tensors = cap;
    return EF_OK;
}

/* Parses one header entry into a tensor of `set` (data not yet checked for overlap). */
static ef_status parse_entry(ef_st_set *set, const char *path, const cJSON *e, const uint8_t *data,
                             uint64_t data_size) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return ef_err(EF_ERR_FORMAT, "%s: header entry '%s' is not an object", path, name);
    if (ef_st_find(set, name))
        return ef_err(EF_ERR_FORMAT, "%s: tensor '%s' appears more than once", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return ef_err(EF_ERR_FORMAT, "%s: tensor '%s' needs string 'dtype', array 'shape' and "
                      "array 'data_offsets'", path, name);
    uint32_t elem_size = 0;
    int32_t type = dtype_of(dtype->valuestring, &elem_size);
    if (type < 0)
        return ef_err(EF_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s%s; only F32, F16 and BF16 "
                      "can be converted", path, name, dtype->valuestring,
                      type == -2 ? " (not a safetensors dtype)" : "");

    ef_st_tensor t = {.type = (uint32_t)type, .file = path};
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > EF_ST_MAX_DIMS)
        return ef_err(EF_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d)", path,
                      name, n_dims, EF_ST_MAX_DIMS);
    t.n_dims = n_dims;
    uint64_t nbytes = elem_size;
    for (int d = 0; d < n_dims; d++) {
        uint64_t n;
        if (!json_index(cJSON_GetArrayItem(shape, d), &n) || n > INT64_MAX)
            return ef_err(EF_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                          path, name, d);
        t.shape[d] = (int64_t)n;
        if (!ef_mul_ok(nbytes, n, &nbytes))
            return ef_err(EF_ERR_FORMAT, "%s: tensor '%s': size overflows", path, name);
    }
    uint64_t begin, end;
    if (cJSON_GetArraySize(offs) != 2 || !json_index(cJSON_GetArrayItem(offs, 0), &begin) ||
        !json_index(cJSON_GetArrayItem(offs, 1), &end) || begin > end)
        return ef_err(EF_ERR_FORMAT, "%s: tensor '%s': data_offsets must be [begin, end] with "
                      "0 <= begin <= end", path, name);
    if (end > data_size)
        return ef_err(EF_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end "
                      "of the data (%llu bytes; truncated file?)", path, name,
                      (unsigned long long)begin, (unsigned long long)end,
                      (unsigned long long)data_size);
    if (end - begin != nbytes)
        return ef_err(EF_ERR_FORMAT, "%s: tensor '%s' spans %llu bytes but its dtype and shape "
                      "need %llu", path, name, (unsigned long long)(end - begin),
                      (unsigned long long)nbytes);
    t.data = data + begin;
    t.nbytes = nbytes;
    EF_TRY(grow_tensors(set));
    t.name = ef_strdup(name);
    if (!t.name) return ef_err(EF_ERR_NO_MEMORY, "safetensors: out of memory");
    set->tensors[set->n_tensors++] = t;
    return EF_OK;
}

static int cmp_by_data(const void *a, const void *b) {
    const ef_st_tensor *x = *(const ef_st_tensor *const *)a, *y = *(const ef_st_tensor *const *)b;
    return (x->data > y->data) - (x->data < y->data);
}

/* Tensors of one file [first, n) must not share bytes. */
static ef_status check_overlap(ef_st_set *set, size_t first, const char *path) {
    size_t n = set->n_tensors - first;
    if (n < 2) return EF_OK;
    const ef_st_tensor **order = ef_malloc(n * sizeof *order);
    if (!order) return ef_err(EF_ERR_NO_MEMORY, "safetensors: out of memory");
    for (size_t i = 0; i < n; i++) order[i] = &set->tensors[first + i];
    qsort(order, n, sizeof *order, cmp_by_data);
    ef_status st = EF_OK;
    for (size_t i = 1; i < n && st == EF_OK; i++)
        if (order[i]->nbytes && order[i]->data < order[i - 1]->data + order[i - 1]->nbytes)
            st = ef_err(EF_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the file", path,
                        order[i - 1]->name, order[i]->name);
    ef_free(order);
    return st;
}

static ef_status add_map(ef_st_set *set, const char *path, ef_file_map *map) {
    ef_file_map *maps = ef_realloc(set->maps, (set->n_files + 1) * sizeof *maps);
    if (!maps) return ef_err(EF_ERR_NO_MEMORY, "safetensors: out of memory");
    set->maps = maps;
    char **names = ef_realloc(set->file_names, (set->n_files + 1) * sizeof *names);
    if (!names) return ef_err(EF_ERR_NO_MEMORY, "safetensors: out of memory");
    set->file_names = names;
    names[set->n_files] = ef_strdup(path);
    if (!names[set->n_files]) return ef_err(EF_ERR_NO_MEMORY, "safetensors: out of memory");
    maps[set->n_files] = *map;
    set->n_files++;
    return EF_OK;
}

static ef_status parse_header(ef_st_set *set, const char *path, const ef_file_map *map) {
    if (map->size < 8)
        return ef_err(EF_ERR_FORMAT, "%s: %llu bytes is too short for a safetensors file", path,
                      (unsigned long long)map->size);
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++) header_len |= (uint64_t)map->data[i] << (8 * i);
    if (header_len > map->size - 8)
        return ef_err(EF_ERR_FORMAT, "%s: header length %llu runs past the end of the file "
                      "(%llu bytes)", path, (unsigned long long)header_len,
                      (unsigned long long)map->size);
    if (header_len < 2 || header_len > EF_ST_MAX_HEADER)
        return ef_err(EF_ERR_FORMAT, "%s: header length %llu is not plausible", path,
                      (unsigned long long)header_len);
    cJSON *root = cJSON_ParseWithLength((const char *)map->data + 8, (size_t)header_len);
    if (!root) return ef_err(EF_ERR_FORMAT, "%s: the header is not valid JSON", path);
    ef_status st = EF_OK;
    if (!cJSON_IsObject(root)) st = ef_err(EF_ERR_FORMAT, "%s: the header is not a JSON object", path);
    const uint8_t *data = map->data + 8 + header_len;
    const uint64_t data_size = map->size - 8 - header_len;
    const size_t first = set->n_tensors;
    for (const cJSON *e = root->child; e && st == EF_OK; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) st = parse_entry(set, path, e, data, data_size);
    cJSON_Delete(root);
    if (st == EF_OK) st = check_overlap(set, first, path);
    return st;
}

ef_status ef_st_add_file(ef_st_set *set, const char *path) {
    ef_file_map map;
    EF_TRY(ef_file_map_open(path, 1, &map));
    ef_status st = add_map(set, path, &map);
    if (st != EF_OK) {
        ef_file_map_close(&map);
        return st;
    }
    /* The map now belongs to the set: its name outlives the tensors' `file`. */
    return parse_header(set, set->file_names[set->n_files - 1], &map);
}

/* Shard names come from the index: plain file names in the same folder. */
static int safe_shard_name(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

static ef_status open_sharded(ef_st_set *set, const char *hf_dir, const cJSON *index) {
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
    if (!cJSON_IsObject(map))
        return ef_err(EF_ERR_FORMAT, "model.safetensors.index.json: no 'weight_map' object");
    /* Each distinct shard once, in first-mention order. */
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !safe_shard_name(e->valuestring))
            return ef_err(EF_ERR_FORMAT, "model.safetensors.index.json: weight_map['%s'] is not a "
                          "shard file name", e->string);
        int seen = 0;
        for (const cJSON *p = map->child; p != e && !seen; p = p->next)
            seen = !strcmp(p->valuestring, e->valuestring);
        if (seen) continue;
        char *path = ef_path_join(hf_dir, e->valuestring);
        if (!path) return ef_err(EF_ERR_NO_MEMORY, "safetensors: out of memory");
        ef_status st = ef_st_add_file(set, path);
        if (st != EF_OK) st = ef_err_prefix(st, "shard '%s'", e->valuestring);
        ef_free(path);
        EF_TRY(st);
    }
    /* The index must not promise tensors its shards lack. */
    for (const cJSON *e = map->child; e; e = e->next)
        if (!ef_st_find(set, e->string))
            return ef_err(EF_ERR_FORMAT, "tensor '%s' is listed in the index but missing from "
                          "shard '%s'", e->string, e->valuestring);
    return EF_OK;
}

ef_status ef_st_open_dir(const char *hf_dir, ef_st_set **out) {
    *out = NULL;
    cJSON *index = NULL;
    EF_TRY(ef_json_read_file(hf_dir, "model.safetensors.index.json", 1, &index));
    ef_st_set *set;
    ef_status st = ef_st_set_create(&set);
    if (st == EF_OK) {
        if (index) {
            st = open_sharded(set, hf_dir, index);
        } else {
            char *path = ef_path_join(hf_dir, "model.safetensors");
            st = path ? ef_st_add_file(set, path)
                      : ef_err(EF_ERR_NO_MEMORY, "safetensors: out of memory");
            ef_free(path);
        }
        if (st == EF_OK && set->n_tensors == 0)
            st = ef_err(EF_ERR_FORMAT, "%s: the checkpoint holds no tensors", hf_dir);
        if (st != EF_OK) ef_st_set_free(set);
        else *out = set;
    }
    cJSON_Delete(index);
    return st;
}

/* Checkpoints: "EFTRCKPT", version, then frames {tag u32, length u64,
 * payload, crc32 u32 over tag+length+payload}: HPAR (shape and batch
 * settings), STAT (step, data RNG), PARM, ADMM, ADMV (float arrays), END.
 * Written to a temporary file and renamed; read back fully validated
 * before anything in the trainer changes. Little-endian hosts only (as the
 * GGUF code). */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/platform.h"
#include "train/trainer.h"

#define CKPT_MAGIC "EFTRCKPT"
/* Format versions. 1: HPAR held the shape without the attention variant
 * (56 bytes); 2: the shape with the MLA and window fields (96 bytes). Bump
 * it whenever a frame's layout changes, so an old file is named as such. */
#define CKPT_VERSION 2u
#define CKPT_MAX_STEP ((int64_t)1 << 53) /* far beyond any run, far below overflow */
#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
enum { TAG_HPAR = TAG('H', 'P', 'A', 'R'), TAG_STAT = TAG('S', 'T', 'A', 'T'),
       TAG_PARM = TAG('P', 'A', 'R', 'M'), TAG_ADMM = TAG('A', 'D', 'M', 'M'),
       TAG_ADMV = TAG('A', 'D', 'M', 'V'), TAG_END = TAG('E', 'N', 'D', '!') };

/* What must match for a checkpoint to continue this trainer exactly. */
typedef struct ckpt_hpar {
    ef_train_shape shape;
    int32_t batch, accum;
    uint64_t n_floats;
} ckpt_hpar;

typedef struct ckpt_stat {
    int64_t step;
    uint64_t rng[4];
} ckpt_stat;

static void hpar_of(const ef_trainer *t, ckpt_hpar *h) {
    memset(h, 0, sizeof *h); /* padding too: the bytes are compared */
    h->shape = t->p.shape;
    h->batch = t->p.batch;
    h->accum = t->p.accum;
    h->n_floats = t->model.lay.n_floats;
}

static int write_frame(FILE *f, uint32_t tag, const void *data, uint64_t len) {
    uint32_t crc = ef_crc32(0, &tag, 4);
    crc = ef_crc32(crc, &len, 8);
    crc = ef_crc32(crc, data, (size_t)len);
    return fwrite(&tag, 4, 1, f) == 1 && fwrite(&len, 8, 1, f) == 1 &&
           (len == 0 || fwrite(data, (size_t)len, 1, f) == 1) && fwrite(&crc, 4, 1, f) == 1;
}

ef_status ef_trainer_save(const ef_trainer *t, const char *path) {
    if (!t || !path) return ef_err(EF_ERR_INVALID_ARG, "ef_trainer_save: NULL argument");
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return ef_err(EF_ERR_INVALID_ARG, "checkpoint path is too long");
    FILE *f = fopen(tmp, "wb");
    if (!f) return ef_err(EF_ERR_IO, "cannot create checkpoint '%s'", tmp);
    ckpt_hpar h;
    hpar_of(t, &h);
    ckpt_stat s = {.step = t->step};
    memcpy(s.rng, t->rng.s, sizeof s.rng);
    const uint64_t nb = (uint64_t)t->model.lay.n_floats * sizeof(float);
    const uint32_t version = CKPT_VERSION;
    int ok = fwrite(CKPT_MAGIC, 8, 1, f) == 1 && fwrite(&version, 4, 1, f) == 1 &&
             write_frame(f, TAG_HPAR, &h, sizeof h) && write_frame(f, TAG_STAT, &s, sizeof s) &&
             write_frame(f, TAG_PARM, t->model.params, nb) &&
             write_frame(f, TAG_ADMM, t->adam_m, nb) && write_frame(f, TAG_ADMV, t->adam_v, nb) &&
             write_frame(f, TAG_END, "", 0);
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        ef_file_remove(tmp);
        return ef_err(EF_ERR_IO, "error writing checkpoint '%s'", tmp);
    }
    return ef_file_rename(tmp, path);
}

/* One frame of the image at *pos, checked for length and checksum. */
static ef_status read_frame(const char *path, const unsigned char *img, uint64_t size,
                            uint64_t *pos, uint32_t want_tag, uint64_t want_len,
                            const unsigned char **payload) {
    const char name[5] = {(char)(want_tag & 0xFF), (char)(want_tag >> 8 & 0xFF),
                          (char)(want_tag >> 16 & 0xFF), (char)(want_tag >> 24), 0};
    uint32_t tag, crc;
    uint64_t len;
    if (size - *pos < 12)
        return ef_err(EF_ERR_FORMAT, "checkpoint '%s' is truncated before frame '%s'", path, name);
    memcpy(&tag, img + *pos, 4);
    memcpy(&len, img + *pos + 4, 8);
    if (tag != want_tag)
        return ef_err(EF_ERR_FORMAT, "checkpoint '%s': expected frame '%s' at offset %llu", path,
                      name, (unsigned long long)*pos);
    if (len > size - *pos - 12 || size - *pos - 12 - len < 4)
        return ef_err(EF_ERR_FORMAT, "checkpoint '%s' is truncated in frame '%s' (%llu bytes "
                      "announced, %llu left)", path, name, (unsigned long long)len,
                      (unsigned long long)(size - *pos - 12));
    memcpy(&crc, img + *pos + 12 + len, 4);
    if (ef_crc32(0, img + *pos, (size_t)(12 + len)) != crc)
        return ef_err(EF_ERR_CORRUPT, "checkpoint '%s': frame '%s' fails its CRC-32 check", path, name);
    if (len != want_len)
        return ef_err(EF_ERR_MISMATCH, "checkpoint '%s': frame '%s' has %llu bytes, this trainer "
                      "needs %llu", path, name, (unsigned long long)len, (unsigned long long)want_len);
    *payload = img + *pos + 12;
    *pos += 12 + len + 4;
    return EF_OK;
}

static ef_status parse(ef_trainer *t, const char *path, const unsigned char *img, uint64_t size) {
    if (size < 12 || memcmp(img, CKPT_MAGIC, 8) != 0)
        return ef_err(EF_ERR_FORMAT, "'%s' is not an EdgeFormer training checkpoint", path);
    uint32_t version;
    memcpy(&version, img + 8, 4);
    if (version < CKPT_VERSION)
        return ef_err(EF_ERR_FORMAT, "checkpoint '%s' has version %u, this build reads %u: its "
                      "settings frame predates the attention variants, so it cannot be resumed "
                      "(start a new run from its exported GGUF with --init)", path, version,
                      CKPT_VERSION);
    if (version != CKPT_VERSION)
        return ef_err(EF_ERR_FORMAT, "checkpoint '%s' has version %u, this build reads %u (written "
                      "by a newer build)", path, version, CKPT_VERSION);
    uint64_t pos = 12;
    const uint64_t nb = (uint64_t)t->model.lay.n_floats * sizeof(float);
    const unsigned char *hp, *st, *pa, *mm, *vv, *end;
    EF_TRY(read_frame(path, img, size, &pos, TAG_HPAR, sizeof(ckpt_hpar), &hp));
    ckpt_hpar mine;
    hpar_of(t, &mine);
    if (memcmp(hp, &mine, sizeof mine) != 0)
        return ef_err(EF_ERR_MISMATCH, "checkpoint '%s' was written for another model shape or "
                      "batch setting", path);
    EF_TRY(read_frame(path, img, size, &pos, TAG_STAT, sizeof(ckpt_stat), &st));
    EF_TRY(read_frame(path, img, size, &pos, TAG_PARM, nb, &pa));
    EF_TRY(read_frame(path, img, size, &pos, TAG_ADMM, nb, &mm));
    EF_TRY(read_frame(path, img, size, &pos, TAG_ADMV, nb, &vv));
    EF_TRY(read_frame(path, img, size, &pos, TAG_END, 0, &end));
    ckpt_stat s;
    memcpy(&s, st, sizeof s);
    /* The trainer computes step + 1 and keeps counting: a step near
     * INT64_MAX (or negative) is no trainer's, and would overflow. An
     * all-zero state is the one xoshiro256** never leaves. */
    if (s.step < 0 || s.step > CKPT_MAX_STEP)
        return ef_err(EF_ERR_FORMAT, "checkpoint '%s': step %lld is out of range (0..%lld)", path,
                      (long long)s.step, (long long)CKPT_MAX_STEP);
    if ((s.rng[0] | s.rng[1] | s.rng[2] | s.rng[3]) == 0)
        return ef_err(EF_ERR_FORMAT, "checkpoint '%s': the data order's random state is all zero", path);
    /* all checked: now change the trainer */
    t->step = s.step;
    memcpy(t->rng.s, s.rng, sizeof s.rng);
    memcpy(t->model.params, pa, (size_t)nb);
    memcpy(t->adam_m, mm, (size_t)nb);
    memcpy(t->adam_v, vv, (size_t)nb);
    return EF_OK;
}

ef_status ef_trainer_load(ef_trainer *t, const char *path) {
    if (!t || !path) return ef_err(EF_ERR_INVALID_ARG, "ef_trainer_load: NULL argument");
    ef_file_map map;
    EF_TRY(ef_file_map_open(path, 0, &map));
    ef_status st = parse(t, path, map.data, map.size);
    ef_file_map_close(&map);
    return st;
}

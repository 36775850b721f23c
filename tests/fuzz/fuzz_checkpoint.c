/* libFuzzer target for training checkpoints (ef_trainer_load,
 * lib/train/checkpoint.c): the bytes are written to a file and loaded into
 * a tiny trainer built in-process (synthetic 260-token vocabulary, dim 2,
 * one layer, tied output: 554 floats, so a whole checkpoint is ~6.8 KB and
 * the committed seeds from make_seeds.py are complete, valid images).
 *
 * Input: byte 0 picks the mode, the rest is the checkpoint.
 *   bit 0: recompute every frame's CRC-32 first, so mutations reach the
 *          checks behind the checksum (shape, lengths, step, RNG state);
 *   bit 1: a seed that must be accepted, checked only by the corpus replay
 *          (EF_FUZZ_REPLAY): when the trainer's checkpoint layout changes
 *          (the HPAR frame is ef_train_shape's bytes), the replay test fails
 *          until checkpoint_seeds() in make_seeds.py follows it, instead of
 *          every seed being refused silently.
 * Checked: the status is a documented one; a refused checkpoint leaves the
 * trainer exactly as it was (parameters, AdamW moments, step, data RNG);
 * an accepted one holds the file's parameters and step, and the trainer
 * then reports a learning rate and takes a step. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, in fuzz_tmpdir.h */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeformer/edgeformer.h"
#include "fuzz_tmpdir.h"
#include "train/trainer.h" /* the trainer's state, ef_crc32 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The checkpoint layout (lib/train/checkpoint.c): magic, version, frames. */
#define CKPT_HEADER 12  /* "EFTRCKPT" + u32 version */
#define FRAME_HEAD 12   /* u32 tag + u64 length */
#define FRAME_CRC 4

/* The trainer's state a load may change: [n_floats] params, m and v. */
typedef struct trainer_state {
    float *params, *m, *v; /* [n_floats] each */
    int64_t step;
    ef_rng rng;
} trainer_state;

static ef_trainer *g_trainer;
static trainer_state g_baseline;
static char g_input_path[512], g_baseline_path[512];

static size_t n_floats(void) { return g_trainer->model.lay.n_floats; }

static void state_take(trainer_state *s) {
    const size_t nb = n_floats() * sizeof(float);
    if (!s->params) {
        s->params = malloc(nb), s->m = malloc(nb), s->v = malloc(nb);
        if (!s->params || !s->m || !s->v) abort();
    }
    memcpy(s->params, g_trainer->model.params, nb);
    memcpy(s->m, g_trainer->adam_m, nb);
    memcpy(s->v, g_trainer->adam_v, nb);
    s->step = g_trainer->step;
    s->rng = g_trainer->rng;
}

static int state_same(const trainer_state *s) {
    const size_t nb = n_floats() * sizeof(float);
    return memcmp(s->params, g_trainer->model.params, nb) == 0 && memcmp(s->m, g_trainer->adam_m, nb) == 0 &&
           memcmp(s->v, g_trainer->adam_v, nb) == 0 && s->step == g_trainer->step &&
           memcmp(&s->rng, &g_trainer->rng, sizeof s->rng) == 0;
}

static void setup(void) {
    if (g_trainer) return;
    static const char text[] =
        "the cat sat on the mat and the dog sat on the log; a bird sang in the tree "
        "while the sun rose over the hill and the river ran down to the sea again.";
    ef_train_params *p = NULL;
    if (ef_train_params_create(&p) != EF_OK) abort();
    static const struct { const char *key; int64_t value; } ints[] = {
        {"dim", 2}, {"layers", 1}, {"heads", 1}, {"kv_heads", 1}, {"ff", 2}, {"seq", 4},
        {"batch", 1}, {"accum", 1}, {"steps", 10}, {"warmup", 2}, {"threads", 1}, {"seed", 5},
        {"tied", 1}, {"eval_batches", 1},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ef_train_params_set_int(p, ints[i].key, ints[i].value) != EF_OK) abort();
    if (ef_train_params_set_str(p, "vocab", "synthetic:260") != EF_OK ||
        ef_train_params_set_str(p, "text", text) != EF_OK || ef_trainer_create(p, &g_trainer) != EF_OK)
        abort();
    ef_train_params_free(p);
    /* The seeds (make_seeds.py) assume exactly this shape. */
    if (g_trainer->p.shape.n_vocab != 260 || n_floats() != 554) {
        fprintf(stderr, "fuzz_checkpoint: the tiny trainer has %d tokens and %zu parameters, the seeds assume 260 "
                        "and 554: update checkpoint_seeds() in tests/fuzz/make_seeds.py\n",
                (int)g_trainer->p.shape.n_vocab, n_floats());
        abort();
    }
    snprintf(g_input_path, sizeof g_input_path, "%s/input.ckpt", fuzz_tmpdir());
    snprintf(g_baseline_path, sizeof g_baseline_path, "%s/baseline.ckpt", fuzz_tmpdir());
    if (ef_trainer_save(g_trainer, g_baseline_path) != EF_OK) abort();
    state_take(&g_baseline);
}

/* Rewrites the CRC of every frame that lies wholly within the buffer. */
static void fix_crcs(uint8_t *b, size_t n) {
    size_t pos = CKPT_HEADER;
    while (n >= FRAME_HEAD + FRAME_CRC && pos <= n - FRAME_HEAD - FRAME_CRC) {
        uint64_t len;
        memcpy(&len, b + pos + 4, 8);
        if (len > n - pos - FRAME_HEAD - FRAME_CRC) return;
        uint32_t crc = ef_crc32(0, b + pos, FRAME_HEAD + (size_t)len);
        memcpy(b + pos + FRAME_HEAD + len, &crc, 4);
        pos += FRAME_HEAD + (size_t)len + FRAME_CRC;
    }
}

static int documented(ef_status st) {
    return st == EF_ERR_FORMAT || st == EF_ERR_CORRUPT || st == EF_ERR_MISMATCH || st == EF_ERR_IO ||
           st == EF_ERR_NO_MEMORY;
}

/* The offset of the frame after the one at `at` (an accepted image). */
static size_t next_frame(const uint8_t *img, size_t at) {
    uint64_t len;
    memcpy(&len, img + at + 4, 8);
    return at + FRAME_HEAD + (size_t)len + FRAME_CRC;
}

/* An accepted checkpoint: its PARM frame and step are now the trainer's,
 * and the trainer still works. The frames are HPAR, STAT (step first),
 * PARM, ... */
static void check_accepted(const uint8_t *img) {
    const size_t stat_at = next_frame(img, CKPT_HEADER);
    const size_t parm_at = next_frame(img, stat_at);
    int64_t step;
    memcpy(&step, img + stat_at + FRAME_HEAD, 8);
    if (g_trainer->step != step) abort();
    if (memcmp(g_trainer->model.params, img + parm_at + FRAME_HEAD, n_floats() * sizeof(float)) != 0) abort();
    (void)ef_trainer_lr(g_trainer);
    float loss = 0;
    if (ef_trainer_step(g_trainer, &loss) != EF_OK) abort();
    if (ef_trainer_step_count(g_trainer) != step + 1) abort();
    /* back to the baseline for the next input */
    if (ef_trainer_load(g_trainer, g_baseline_path) != EF_OK || !state_same(&g_baseline)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    size_t n = size - 1;
    uint8_t *img = malloc(n ? n : 1);
    if (!img) return 0;
    memcpy(img, data + 1, n);
    if (mode & 1) fix_crcs(img, n);
    fuzz_write_file("input.ckpt", img, n);

    ef_status st = ef_trainer_load(g_trainer, g_input_path);
#ifdef EF_FUZZ_REPLAY
    if ((mode & 2) && st != EF_OK) {
        fprintf(stderr, "fuzz_checkpoint: a seed marked valid was refused (%s: %s); update checkpoint_seeds() "
                        "in tests/fuzz/make_seeds.py to the trainer's checkpoint layout\n",
                ef_status_str(st), ef_last_error());
        abort();
    }
#endif
    if (st == EF_OK) {
        check_accepted(img);
    } else if (!documented(st) || !state_same(&g_baseline)) {
        abort(); /* an undocumented status, or a refused checkpoint changed the trainer */
    }
    free(img);
    return 0;
}

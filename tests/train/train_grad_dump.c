/* For torch_grads.py: builds a random tiny trainer, takes one batch, and
 * writes OUT/model.gguf (the exported parameters), OUT/tokens.bin and
 * OUT/targets.bin (int32 [B, T]), OUT/grads.gguf (d mean-loss / d param,
 * same tensor names, F32) and OUT/loss.txt.
 * usage: train_grad_dump OUTDIR HEADS KV_HEADS TIED [SETTINGS]
 * SETTINGS: "key=value,..." trainer settings (attention, window, kv_lora...) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/types.h"
#include "train_test_util.h"

static int fail(const char *what) {
    fprintf(stderr, "train_grad_dump: %s: %s\n", what, ef_last_error());
    return 1;
}

static int write_ints(const char *dir, const char *name, const int32_t *v, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof *v, n, f) != n) return 0;
    return fclose(f) == 0;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: train_grad_dump OUTDIR HEADS KV_HEADS TIED [SETTINGS]\n");
        return 2;
    }
    const char *dir = argv[1];
    ef_trainer *t;
    /* seq 12 so that a window of a few tokens masks something */
    if (make_test_trainer_ex(32, 2, atoi(argv[2]), atoi(argv[3]), 48, 12, 2, atoi(argv[4]), 4, 2, 4,
                             argc == 6 ? argv[5] : NULL, &t))
        return fail("create");
    /* a few steps first, so the weights are not at their symmetric start */
    float loss;
    for (int i = 0; i < 3; i++)
        if (ef_trainer_step(t, &loss)) return fail("step");
    char path[1024];
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    if (ef_trainer_export(t, path)) return fail("export");

    ef_train_data_sample(t);
    const size_t n = (size_t)t->p.batch * (size_t)t->p.shape.seq;
    if (!write_ints(dir, "tokens.bin", t->inputs, n) || !write_ints(dir, "targets.bin", t->targets, n))
        return fail("write tokens");
    memset(t->model.grads, 0, sizeof(float) * t->model.lay.n_floats);
    loss = ef_train_model_forward(&t->model, t->pool, t->inputs, t->targets, NULL);
    ef_train_model_backward(&t->model, t->pool, t->inputs, t->targets, 1.0f);

    ef_gguf_writer *w;
    if (ef_gguf_writer_create(&w)) return fail("writer");
    for (int32_t i = 0; i < ef_train_tensor_count(&t->p.shape); i++) {
        ef_train_tensor_ref r;
        ef_train_tensor_at(&t->p.shape, &t->model.lay, i, &r);
        const int64_t ne[3] = {r.ne0, r.ne1, r.ne2};
        if (ef_gguf_writer_add_tensor(w, r.name, EF_TYPE_F32, r.n_dims, ne,
                                      t->model.grads + r.offset,
                                      (uint64_t)(r.ne0 * r.ne1 * r.ne2) * sizeof(float)))
            return fail("add gradient");
    }
    snprintf(path, sizeof path, "%s/grads.gguf", dir);
    if (ef_gguf_writer_write(w, path)) return fail("write gradients");
    ef_gguf_writer_free(w);
    snprintf(path, sizeof path, "%s/loss.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return fail("loss.txt");
    fprintf(f, "%.9g\n", loss);
    fclose(f);
    ef_trainer_free(t);
    return 0;
}

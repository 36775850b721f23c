#include "gguf_copy_meta.h"

#include "format/gguf.h"

ef_status gguf_copy_with_meta(const char *in, const char *out, const meta_edit *edits, size_t n_edits) {
    ef_gguf *g = NULL;
    ef_gguf_writer *w = NULL;
    ef_status st = ef_gguf_open(in, 1, &g);
    if (st == EF_OK) st = ef_gguf_writer_create(&w);
    for (int64_t i = 0; st == EF_OK && i < ef_gguf_n_kv(g); i++) st = ef_gguf_writer_copy_kv(w, g, i);
    for (size_t i = 0; st == EF_OK && i < n_edits; i++)
        st = edits[i].is_bool ? ef_gguf_writer_set_bool(w, edits[i].key, edits[i].bool_value)
                              : ef_gguf_writer_set_str(w, edits[i].key, edits[i].str_value);
    for (int64_t i = 0; st == EF_OK && i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        st = ef_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    if (st == EF_OK) st = ef_gguf_writer_write(w, out);
    ef_gguf_writer_free(w);
    ef_gguf_close(g);
    return st;
}

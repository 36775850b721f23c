#include "tokenizer/merge_queue.h"

#include "base/alloc.h"

/* a goes before b: higher priority, then smaller left, then smaller right
 * (the BPE trainer's (left id, right id) tie rule). */
static int before(const ef_merge_cand *a, const ef_merge_cand *b) {
    if (a->priority != b->priority) return a->priority > b->priority;
    if (a->left != b->left) return a->left < b->left;
    return a->right < b->right;
}

ef_status ef_merge_queue_push(ef_merge_queue *q, ef_merge_cand c) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof *q->heap) return ef_err(EF_ERR_NO_MEMORY, "merge queue too long");
        ef_merge_cand *h = ef_realloc(q->heap, cap * sizeof *h);
        if (!h) return ef_err(EF_ERR_NO_MEMORY, "cannot grow the merge queue to %zu entries", cap);
        q->heap = h;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&c, &q->heap[parent])) break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = c;
    return EF_OK;
}

int ef_merge_queue_pop(ef_merge_queue *q, ef_merge_cand *out) {
    if (q->n == 0) return 0;
    *out = q->heap[0];
    ef_merge_cand last = q->heap[--q->n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->n) break;
        if (child + 1 < q->n && before(&q->heap[child + 1], &q->heap[child])) child++;
        if (!before(&q->heap[child], &last)) break;
        q->heap[i] = q->heap[child];
        i = child;
    }
    if (q->n) q->heap[i] = last;
    return 1;
}

void ef_merge_queue_free(ef_merge_queue *q) {
    ef_free(q->heap);
    q->heap = NULL;
    q->n = q->cap = 0;
}

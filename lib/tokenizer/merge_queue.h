/* The priority queue of candidate merges both BPE variants use: the best
 * priority first (SentencePiece: highest score; byte-level BPE: lowest rank,
 * stored negated) and, on ties, the leftmost pair (then the smaller right;
 * the BPE trainer queues token ids there). Entries go stale when a
 * neighbour merges first; callers check `size` against the symbols. */
#ifndef EF_TOKENIZER_MERGE_QUEUE_H
#define EF_TOKENIZER_MERGE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct ef_merge_cand {
    double priority; /* larger merges first */
    int32_t left;    /* symbol index of the left part */
    int32_t right;   /* symbol index of the right part */
    size_t size;     /* bytes of the merged text when queued */
} ef_merge_cand;

typedef struct ef_merge_queue {
    ef_merge_cand *heap; /* [cap] binary max-heap, n used */
    size_t n;
    size_t cap;
} ef_merge_queue;

ef_status ef_merge_queue_push(ef_merge_queue *q, ef_merge_cand c);
/* Removes the best candidate into *out; returns 0 when empty. */
int ef_merge_queue_pop(ef_merge_queue *q, ef_merge_cand *out);
void ef_merge_queue_free(ef_merge_queue *q);

#endif

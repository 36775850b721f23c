/* Buffer checks: partial uploads and downloads at offsets, map/unmap (which
 * EF_BE_CAP_HOST_MEMORY promises never fails), and an op whose tensors sit
 * at non-zero offsets of their buffers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "conformance.h"
#include "quant/types.h"

#define BUF_BYTES 4096

static void report(conf_run *r, const char *what, const char *error) {
    conf_report(r, "buffers", "-", what, error ? INFINITY : 0.0, 0.0, error);
}

static void check_upload_download(conf_run *r, ef_be_buffer *buf, uint8_t *expect) {
    const ef_be_iface *f = &r->test.b->iface;
    uint8_t part[100], got[BUF_BYTES];
    for (int i = 0; i < BUF_BYTES; i++) expect[i] = (uint8_t)(i * 7 + 3);
    for (int i = 0; i < 100; i++) part[i] = (uint8_t)(255 - i);
    int32_t st = f->buffer_upload(r->test.ctx, buf, 0, expect, BUF_BYTES);
    if (!st) st = f->buffer_upload(r->test.ctx, buf, 1000, part, sizeof part);
    memcpy(expect + 1000, part, sizeof part);
    if (!st) st = f->buffer_download(r->test.ctx, buf, 0, got, BUF_BYTES);
    if (st) {
        report(r, "upload/download", "an upload or download failed");
        return;
    }
    report(r, "upload 4096 + 100 at 1000, download", memcmp(got, expect, BUF_BYTES) ? "bytes differ" : NULL);
    uint8_t piece[17];
    st = f->buffer_download(r->test.ctx, buf, 2001, piece, sizeof piece);
    report(r, "download 17 at 2001", st ? "failed" : memcmp(piece, expect + 2001, sizeof piece) ? "bytes differ" : NULL);
}

static void check_map(conf_run *r, ef_be_buffer *buf, uint8_t *expect) {
    const ef_be_iface *f = &r->test.b->iface;
    const int host = (r->test.b->caps & EF_BE_CAP_HOST_MEMORY) != 0;
    if (!f->buffer_map) {
        if (host) report(r, "map", "EF_BE_CAP_HOST_MEMORY without buffer_map");
        return;
    }
    if (f->synchronize) f->synchronize(r->test.ctx);
    uint8_t *p = f->buffer_map(r->test.ctx, buf);
    if (!p) {
        if (host) report(r, "map", "EF_BE_CAP_HOST_MEMORY but buffer_map returned NULL");
        return; /* allowed otherwise */
    }
    const char *err = memcmp(p, expect, BUF_BYTES) ? "the mapped bytes differ from the uploaded ones" : NULL;
    for (int i = 0; i < BUF_BYTES; i++) p[i] = (uint8_t)(i * 13 + 1);
    int32_t st = f->buffer_unmap ? f->buffer_unmap(r->test.ctx, buf) : 0;
    uint8_t got[BUF_BYTES];
    if (!st) st = f->buffer_download(r->test.ctx, buf, 0, got, BUF_BYTES);
    for (int i = 0; !err && !st && i < BUF_BYTES; i++)
        if (got[i] != (uint8_t)(i * 13 + 1)) err = "bytes written through the map are not in the buffer";
    report(r, "map, write, unmap, download", st ? "unmap or download failed" : err);
}

/* y = x · Wᵀ with every tensor at an offset, against the cpu at offset 0. */
static void check_offsets(conf_run *r) {
    if (!r->test.b->iface.matmul || !r->test.b->iface.supports(r->test.ctx, EF_BE_OP_MATMUL, EF_TYPE_F32)) return;
    const int64_t in = 33, out = 17, n = 3;
    uint64_t rng = r->seed + 77;
    float w[33 * 17], x[33 * 3], y[17 * 3], ref[17 * 3];
    for (int i = 0; i < in * out; i++) w[i] = conf_normal(&rng);
    for (int i = 0; i < in * n; i++) x[i] = conf_normal(&rng);
    conf_backend *sides[2] = {&r->ref, &r->test};
    float *outs[2] = {ref, y};
    int32_t st = 0;
    for (int s = 0; s < 2 && !st; s++) {
        uint64_t off = s ? 256 : 0;
        ef_be_tensor wt, xt, yt;
        memset(&xt, 0, sizeof xt);
        memset(&yt, 0, sizeof yt);
        st = conf_tensor_at(sides[s], EF_TYPE_F32, in, out, 1, 1, w, off, &wt);
        if (!st) st = conf_tensor_at(sides[s], EF_TYPE_F32, in, n, 1, 1, x, off + 64, &xt);
        if (!st) st = conf_tensor_at(sides[s], EF_TYPE_F32, out, n, 1, 1, NULL, off + 128, &yt);
        if (!st) st = sides[s]->b->iface.matmul(sides[s]->ctx, &wt, &xt, &yt);
        if (!st) st = conf_fetch(sides[s], &yt, outs[s]);
        conf_release(sides[s], &wt);
        conf_release(sides[s], &xt);
        conf_release(sides[s], &yt);
    }
    conf_report(r, "buffers", "F32", "matmul with tensors at offsets 256/320/384", st ? INFINITY : conf_nmse(y, ref, out * n),
                1e-6, st ? "the matmul failed" : NULL);
}

void conf_check_buffers(conf_run *r) {
    const ef_be_iface *f = &r->test.b->iface;
    ef_be_buffer *buf = NULL;
    uint8_t *expect = ef_malloc(BUF_BYTES); /* [BUF_BYTES] what the buffer should hold */
    if (!expect || f->buffer_alloc(r->test.ctx, BUF_BYTES, EF_BE_BUF_HOST_VISIBLE, &buf) != 0 || !buf) {
        report(r, "alloc 4096", "buffer_alloc failed");
        ef_free(expect);
        return;
    }
    check_upload_download(r, buf, expect);
    check_map(r, buf, expect);
    f->buffer_free(r->test.ctx, buf);
    ef_free(expect);
    check_offsets(r);
}

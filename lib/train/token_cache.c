/* The tokenized-dataset cache: one file per (data bytes, vocabulary) pair,
 * "<16 hex digits of the key>.eftok" in the cache folder:
 *   "EFTOKCAC" | version u32 | encoding u32 | n_tokens u64 |
 *   crc32 u32 (of the ids as little-endian int32) | payload length u64 |
 *   payload
 * encoding 1: the ids (as uint32) LEB128-varint-packed, then one zstd
 * frame; encoding 0 (builds with EF_NO_ZSTD): the varint bytes as they are.
 * Written to a temporary name and renamed. A file that fails any check is
 * reported as absent (the caller re-tokenizes and rewrites it).
 * Little-endian hosts only (as the checkpoints). */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/platform.h"
#include "train/train.h"

#ifndef EF_NO_ZSTD
#include <zstd.h>
#endif

#define TC_MAGIC "EFTOKCAC"
#define TC_VERSION 1u
#define TC_HEADER 36u /* 8 + 4 + 4 + 8 + 4 + 8 */
enum { TC_RAW_VARINT = 0, TC_ZSTD_VARINT = 1 };

_Atomic int64_t ef_token_cache_hits, ef_token_cache_writes;

uint64_t ef_hash64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull; /* FNV-1a */
    }
    return h;
}

ef_status ef_token_cache_path(char *buf, size_t cap, const char *dir, uint64_t key) {
    if (snprintf(buf, cap, "%s" EF_DIR_SEP "%016llx.eftok", dir, (unsigned long long)key) >= (int)cap)
        return ef_err(EF_ERR_INVALID_ARG, "token cache folder '%s': path too long", dir);
    return EF_OK;
}

/* LEB128 varint bytes of the ids (as uint32) into out (≥ 5·n bytes). Plain
 * varints, no delta coding: BPE ids jump around, and on the Brown corpus
 * (GPT-2 vocabulary) zstd shrinks varints 2.64x, delta+zigzag varints only
 * 2.07x, raw int32 2.50x (docs/training.md). */
static size_t pack(const int32_t *ids, int64_t n, uint8_t *out) {
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t z;
        memcpy(&z, &ids[i], 4);
        while (z >= 0x80) {
            out[o++] = (uint8_t)(z | 0x80);
            z >>= 7;
        }
        out[o++] = (uint8_t)z;
    }
    return o;
}

/* Exactly n ids from exactly len bytes; 0 on any malformation. */
static int unpack(const uint8_t *in, size_t len, int32_t *ids, int64_t n) {
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = 0;
        for (int shift = 0;; shift += 7) {
            if (o >= len || shift > 28) return 0;
            uint8_t b = in[o++];
            z |= (uint64_t)(b & 0x7F) << shift;
            if (!(b & 0x80)) break;
        }
        if (z > UINT32_MAX) return 0;
        const uint32_t u = (uint32_t)z;
        memcpy(&ids[i], &u, 4);
    }
    return o == len;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

ef_status ef_token_cache_write(const char *path, const int32_t *ids, int64_t n,
                               uint64_t *file_bytes) {
    if (n < 0 || (uint64_t)n > SIZE_MAX / 5 - 64)
        return ef_err(EF_ERR_INVALID_ARG, "token cache: %lld tokens", (long long)n);
    const size_t raw_cap = (size_t)n * 5 + 1;
    uint8_t *raw = ef_malloc(raw_cap);
    if (!raw) return ef_err(EF_ERR_NO_MEMORY, "out of memory writing token cache '%s'", path);
    const size_t raw_len = pack(ids, n, raw);
    const uint8_t *payload = raw;
    size_t payload_len = raw_len;
    uint32_t encoding = TC_RAW_VARINT;
    uint8_t *z = NULL;
#ifndef EF_NO_ZSTD
    const size_t zcap = ZSTD_compressBound(raw_len);
    z = ef_malloc(zcap);
    if (!z) {
        ef_free(raw);
        return ef_err(EF_ERR_NO_MEMORY, "out of memory writing token cache '%s'", path);
    }
    const size_t zn = ZSTD_compress(z, zcap, raw, raw_len, 3);
    if (ZSTD_isError(zn)) {
        ef_free(z);
        ef_free(raw);
        return ef_err(EF_ERR_INTERNAL, "token cache '%s': zstd: %s", path, ZSTD_getErrorName(zn));
    }
    payload = z;
    payload_len = zn;
    encoding = TC_ZSTD_VARINT;
#endif
    uint8_t head[TC_HEADER];
    memcpy(head, TC_MAGIC, 8);
    put32(head + 8, TC_VERSION);
    put32(head + 12, encoding);
    put64(head + 16, (uint64_t)n);
    put32(head + 24, ef_crc32(0, ids, sizeof(int32_t) * (size_t)n));
    put64(head + 28, (uint64_t)payload_len);

    char tmp[1200];
    ef_status st = EF_OK;
    if (snprintf(tmp, sizeof tmp, "%s.%lld.tmp", path, (long long)ef_process_id()) >= (int)sizeof tmp)
        st = ef_err(EF_ERR_INVALID_ARG, "token cache path '%s' is too long", path);
    FILE *f = st == EF_OK ? ef_fopen(tmp, "wb") : NULL;
    if (st == EF_OK && !f) st = ef_err(EF_ERR_IO, "cannot create token cache '%s'", tmp);
    if (f) {
        int ok = fwrite(head, TC_HEADER, 1, f) == 1 &&
                 (payload_len == 0 || fwrite(payload, payload_len, 1, f) == 1);
        if (fclose(f) != 0) ok = 0;
        if (!ok) {
            ef_file_remove(tmp);
            st = ef_err(EF_ERR_IO, "error writing token cache '%s'", tmp);
        } else {
            st = ef_file_rename(tmp, path);
            if (st != EF_OK) ef_file_remove(tmp);
        }
    }
    if (st == EF_OK) {
        ef_token_cache_writes++;
        if (file_bytes) *file_bytes = TC_HEADER + payload_len;
    }
    ef_free(z);
    ef_free(raw);
    return st;
}

/* The checks of ef_token_cache_read; returns NULL or why the file is bad. */
static const char *parse(const uint8_t *img, uint64_t size, int32_t **ids, int64_t *n_out) {
    uint32_t version, encoding, crc;
    uint64_t n, plen;
    if (size < TC_HEADER || memcmp(img, TC_MAGIC, 8) != 0) return "not a token cache file";
    memcpy(&version, img + 8, 4);
    memcpy(&encoding, img + 12, 4);
    memcpy(&n, img + 16, 8);
    memcpy(&crc, img + 24, 4);
    memcpy(&plen, img + 28, 8);
    if (version != TC_VERSION) return "another version";
    if (plen != size - TC_HEADER) return "truncated or padded";
    /* each id takes ≥ 1 varint byte; zstd packs ≤ 128 KiB into a 3-byte block */
    if (n > (uint64_t)INT32_MAX || n > plen * (encoding == TC_RAW_VARINT ? 1 : 65536))
        return "bad token count";
    const uint8_t *raw = img + TC_HEADER;
    size_t raw_len = (size_t)plen;
    uint8_t *dec = NULL;
    if (encoding == TC_ZSTD_VARINT) {
#ifdef EF_NO_ZSTD
        return "zstd-compressed (this build has no zstd)";
#else
        unsigned long long want = ZSTD_getFrameContentSize(raw, raw_len);
        if (want == ZSTD_CONTENTSIZE_ERROR || want == ZSTD_CONTENTSIZE_UNKNOWN ||
            want < n || want > n * 5)
            return "bad zstd frame";
        dec = ef_malloc((size_t)want + 1);
        if (!dec) return "out of memory";
        size_t got = ZSTD_decompress(dec, (size_t)want, raw, raw_len);
        if (ZSTD_isError(got) || got != want) {
            ef_free(dec);
            return "zstd frame does not decompress";
        }
        raw = dec;
        raw_len = got;
#endif
    } else if (encoding != TC_RAW_VARINT) {
        return "unknown encoding";
    }
    if (raw_len < n || raw_len > n * 5) {
        ef_free(dec);
        return "bad payload size";
    }
    int32_t *out = ef_malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    if (!out) {
        ef_free(dec);
        return "out of memory";
    }
    const int good = unpack(raw, raw_len, out, (int64_t)n);
    ef_free(dec);
    if (!good || ef_crc32(0, out, sizeof(int32_t) * (size_t)n) != crc) {
        ef_free(out);
        return good ? "CRC-32 mismatch" : "malformed ids";
    }
    *ids = out;
    *n_out = (int64_t)n;
    return NULL;
}

int ef_token_cache_read(const char *path, int32_t **ids, int64_t *n) {
    *ids = NULL;
    *n = 0;
    if (!ef_file_exists(path)) return 0;
    ef_file_map map;
    if (ef_file_map_open(path, 0, &map) != EF_OK) {
        EF_LOGW("token cache '%s' cannot be read (%s): tokenizing again", path, ef_last_error());
        return 0;
    }
    const char *why = parse(map.data, map.size, ids, n);
    ef_file_map_close(&map);
    if (why) {
        EF_LOGW("token cache '%s' is unusable (%s): tokenizing again", path, why);
        return 0;
    }
    ef_token_cache_hits++;
    return 1;
}

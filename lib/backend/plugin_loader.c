/* Loads one plugin file into a registry entry: open the library, find the
 * entry point, let it fill the function table, check the table's ABI
 * version and size, probe the device. Every failure leaves the entry
 * listed as unavailable with a reason a user can act on; nothing here may
 * crash on a broken or foreign file. */
#include "backend/backend_internal.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

#ifdef _WIN32
#define PLUGIN_PREFIX "edgeformer-"
#define PLUGIN_SUFFIX ".dll"
#else
#define PLUGIN_PREFIX "libedgeformer-"
#define PLUGIN_SUFFIX ".so"
#endif

int ef_plugin_name_from_file(const char *file, char *name, size_t cap) {
    size_t lp = strlen(PLUGIN_PREFIX), ls = strlen(PLUGIN_SUFFIX), n = strlen(file);
    if (n <= lp + ls || strncmp(file, PLUGIN_PREFIX, lp) != 0 || strcmp(file + n - ls, PLUGIN_SUFFIX) != 0)
        return 0;
    size_t len = n - lp - ls;
    if (len + 1 > cap) return 0;
    memcpy(name, file + lp, len);
    name[len] = '\0';
    return 1;
}

static void mark_unavailable(struct ef_backend *b, const char *why) {
    b->available = 0;
    snprintf(b->reason, sizeof b->reason, "%s", why);
    b->device[0] = '\0';
}

/* The members every backend must have for the host to drive it. */
static const char *missing_member(const ef_be_iface *f) {
    if (!f->probe) return "probe";
    if (!f->init) return "init";
    if (!f->shutdown) return "shutdown";
    if (!f->buffer_alloc) return "buffer_alloc";
    if (!f->buffer_free) return "buffer_free";
    if (!f->buffer_upload) return "buffer_upload";
    if (!f->buffer_download) return "buffer_download";
    if (!f->supports) return "supports";
    return NULL;
}

void ef_plugin_load(const char *path, struct ef_backend *out) {
    char why[EF_BACKEND_WHY_MAX];
    snprintf(out->path, sizeof out->path, "%s", path);
    ef_dl *lib = NULL;
    if (ef_dl_open(path, &lib) != EF_OK) {
        /* the loader's text names the missing library or the bad file */
        mark_unavailable(out, ef_err_msg());
        ef_err_clear();
        return;
    }
    ef_backend_entry_fn entry = NULL;
    void *sym = ef_dl_symbol(lib, EF_BACKEND_ENTRY_NAME);
    memcpy(&entry, &sym, sizeof entry); /* object → function pointer, as dlsym requires */
    if (!entry) {
        snprintf(why, sizeof why, "not an EdgeFormer backend: no entry point %s", EF_BACKEND_ENTRY_NAME);
        mark_unavailable(out, why);
        ef_dl_close(lib);
        return;
    }
    ef_be_iface f;
    memset(&f, 0, sizeof f);
    int32_t st = entry(ef_backend_host(), &f, sizeof f);
    if (st != 0) {
        snprintf(why, sizeof why, "the plugin's entry point failed (%s)", ef_status_str(st));
        mark_unavailable(out, why);
        ef_dl_close(lib);
        return;
    }
    if (f.abi_version != EF_BACKEND_ABI_VERSION) {
        snprintf(why, sizeof why, "built for backend ABI %u, this library speaks %u", (unsigned)f.abi_version,
                 (unsigned)EF_BACKEND_ABI_VERSION);
        mark_unavailable(out, why);
        ef_dl_close(lib);
        return;
    }
    /* version 1's table ends at flash_attn; later hosts read only what fits */
    const size_t v1_size = offsetof(ef_be_iface, flash_attn) + sizeof f.flash_attn;
    if (f.size < v1_size) {
        snprintf(why, sizeof why, "function table of %u bytes is smaller than ABI %u's %llu", (unsigned)f.size,
                 (unsigned)EF_BACKEND_ABI_VERSION, (unsigned long long)v1_size);
        mark_unavailable(out, why);
        ef_dl_close(lib);
        return;
    }
    const char *missing = missing_member(&f);
    if (missing) {
        snprintf(why, sizeof why, "function table lacks %s", missing);
        mark_unavailable(out, why);
        ef_dl_close(lib);
        return;
    }
    if (f.name && strcmp(f.name, out->name) != 0)
        EF_LOGW("backend plugin %s calls itself '%s'; it is listed as '%s' (its file name)", path, f.name, out->name);
    out->iface = f;
    out->lib = lib;

    ef_be_probe p;
    memset(&p, 0, sizeof p);
    st = f.probe(ef_backend_host(), &p);
    p.device[sizeof p.device - 1] = '\0';
    p.reason[sizeof p.reason - 1] = '\0';
    if (st != 0 || !p.available) {
        /* stays loaded: its code may be needed by nobody, but unloading a
         * library that started driver threads is riskier than keeping it */
        if (p.reason[0])
            mark_unavailable(out, p.reason);
        else {
            snprintf(why, sizeof why, "probe failed (%s)", st ? ef_status_str(st) : "reported unavailable");
            mark_unavailable(out, why);
        }
        return;
    }
    out->available = 1;
    out->score = p.score;
    out->memory = p.memory;
    out->caps = p.caps;
    snprintf(out->device, sizeof out->device, "%s", p.device);
    out->reason[0] = '\0';
}

/* onednn_platform.c — the plugin's operating-system calls, in one place
 * (it cannot use lib/base/platform*: plugins see only backend.h): what
 * oneDNN reports about this CPU, its OpenMP threads, and the host's RAM. */
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include "onednn_internal.h"

int32_t onednn_isa_has_vnni(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    /* ISA values are bit sets: each includes the ones below it */
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_vnni) == (unsigned)dnnl_cpu_isa_avx512_core_vnni ||
           (isa & (unsigned)dnnl_cpu_isa_avx2_vnni) == (unsigned)dnnl_cpu_isa_avx2_vnni;
}

const char *onednn_isa_name(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "generic";
    }
}

typedef void (*omp_set_num_threads_fn)(int);

/* libdnnl brings its OpenMP runtime (libgomp for Debian's build) into the
 * process. The plugin does not link one itself, so a host compiled with
 * another OpenMP cannot end up with two runtimes: it looks the runtime up. */
static omp_set_num_threads_fn find_omp_set_num_threads(void)
{
    static const char *const runtimes[] = {"libgomp.so.1", "libomp.so.5", "libiomp5.so", "libomp.so"};
    for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++) {
        void *lib = dlopen(runtimes[i], RTLD_LAZY | RTLD_NOLOAD);
        if (lib == NULL)
            continue;
        void *sym = dlsym(lib, "omp_set_num_threads");
        dlclose(lib); /* NOLOAD took a reference only; the library stays loaded */
        if (sym != NULL) {
            omp_set_num_threads_fn fn;
            *(void **)&fn = sym; /* object -> function pointer, as POSIX allows */
            return fn;
        }
    }
    return NULL;
}

static omp_set_num_threads_fn omp_set_threads;
static pthread_once_t omp_lookup_once = PTHREAD_ONCE_INIT;

static void look_up_omp(void)
{
    omp_set_threads = find_omp_set_num_threads();
}

void onednn_apply_threads(int32_t n_threads)
{
    if (n_threads <= 0)
        return;
    pthread_once(&omp_lookup_once, look_up_omp);
    /* OpenMP's thread count is per calling thread: set it before each execute */
    if (omp_set_threads != NULL)
        omp_set_threads(n_threads);
}

uint64_t onednn_host_ram_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

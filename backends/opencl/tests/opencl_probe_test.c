/* Probe and device selection. Mode "none" runs with OCL_ICD_VENDORS at an
 * empty folder: probe must report "no OpenCL platform" and init refuse.
 * Mode "any": the device string and the opencl.* options.
 * Usage: opencl_probe_test PLUGIN.so none|any */
#include <stdio.h>
#include <string.h>

#include "edgeformer/edgeformer.h"
#include "opencl_test_host.h"

static oclt T;

static int32_t init_with(const char *key, const char *value, char *err, size_t cap) {
    ef_be_option o = {key, value};
    int32_t st = oclt_init(&T, &o, 1, err, cap);
    oclt_close(&T);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s libedgeformer-opencl.so none|any\n", argv[0]);
        return 2;
    }
    if (oclt_load(&T, argv[1]) != 0) return 1;
    oclt_expect(&T, strcmp(T.be.name, "opencl") == 0 && T.be.size == sizeof(ef_be_iface), "entry fills the table");
    ef_be_probe pr;
    oclt_expect(&T, T.be.probe(&T.host, &pr) == 0, "probe returns OK");
    printf("probe: available %d score %d memory %llu caps %u device '%s' reason '%s'\n", pr.available, pr.score,
           (unsigned long long)pr.memory, pr.caps, pr.device, pr.reason);
    char err[256] = "";
    if (strcmp(argv[2], "none") == 0) {
        oclt_expect(&T, pr.available == 0 && strcmp(pr.reason, "no OpenCL platform") == 0,
                    "no platform: unavailable, reason 'no OpenCL platform'");
        oclt_expect(&T, oclt_init(&T, NULL, 0, err, sizeof err) == EF_ERR_UNAVAILABLE && T.ctx == NULL &&
                            strstr(err, "no OpenCL platform"),
                    "no platform: init refuses with EF_ERR_UNAVAILABLE");
    } else {
        if (!pr.available) {
            printf("SKIP: no OpenCL device\n");
            return 77;
        }
        oclt_expect(&T, strstr(pr.device, "OpenCL C ") != NULL && pr.memory > 0, "device string and memory");
        oclt_expect(&T, init_with("opencl.device", "any", err, sizeof err) == EF_OK, "opencl.device=any");
        oclt_expect(&T, init_with("opencl.device", "0", err, sizeof err) == EF_OK, "opencl.device=0");
        oclt_expect(&T, init_with("opencl.platform", "0", err, sizeof err) == EF_OK, "opencl.platform=0");
        oclt_expect(&T, init_with("opencl.device", "99", err, sizeof err) == EF_ERR_INVALID_ARG,
                    "opencl.device=99 -> EF_ERR_INVALID_ARG");
        oclt_expect(&T, init_with("opencl.platform", "42", err, sizeof err) == EF_ERR_INVALID_ARG,
                    "opencl.platform=42 -> EF_ERR_INVALID_ARG");
        oclt_expect(&T, init_with("opencl.device", "banana", err, sizeof err) == EF_ERR_INVALID_ARG &&
                            strstr(err, "banana"),
                    "opencl.device=banana -> EF_ERR_INVALID_ARG naming it");
        oclt_expect(&T, init_with("opencl.work_group", "16", err, sizeof err) == EF_OK, "opencl.work_group=16");
        oclt_expect(&T, init_with("opencl.work_group", "auto", err, sizeof err) == EF_OK, "opencl.work_group=auto");
        oclt_expect(&T, init_with("opencl.work_group", "3", err, sizeof err) == EF_ERR_INVALID_ARG &&
                            init_with("opencl.work_group", "0", err, sizeof err) == EF_ERR_INVALID_ARG &&
                            init_with("opencl.work_group", "512", err, sizeof err) == EF_ERR_INVALID_ARG,
                    "opencl.work_group=3/0/512 -> EF_ERR_INVALID_ARG");
        oclt_expect(&T, init_with("opencl.prefill", "clblast", err, sizeof err) == EF_OK &&
                            init_with("opencl.prefill", "gemv", err, sizeof err) == EF_OK &&
                            init_with("opencl.prefill", "auto", err, sizeof err) == EF_OK,
                    "opencl.prefill=clblast/gemv/auto");
        oclt_expect(&T, init_with("opencl.prefill", "hgemm", err, sizeof err) == EF_ERR_INVALID_ARG,
                    "opencl.prefill=hgemm -> EF_ERR_INVALID_ARG");
        if (pr.score < 100) { /* a CPU OpenCL device such as PoCL */
            oclt_expect(&T, init_with("opencl.device", "cpu", err, sizeof err) == EF_OK, "opencl.device=cpu");
            int32_t st = init_with("opencl.device", "gpu", err, sizeof err);
            printf("opencl.device=gpu: %d '%s'\n", st, err);
        }
    }
    oclt_expect(&T, T.live_allocs == 0, "every host allocation freed");
    printf("%d failure(s)\n", T.failures);
    return T.failures ? 1 : 0;
}

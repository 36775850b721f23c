/* Platform and device discovery: listing, describing and picking the device
 * a context runs on. "any" matters because PoCL is a CPU device. */
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"

#define MAX_PLATFORMS 16
#define MAX_DEVICES 32

/* Scores against the cpu backend's 100: GPUs win "auto", CPU OpenCL (PoCL)
 * stays well below so auto keeps the native CPU kernels. */
enum { SCORE_DISCRETE_GPU = 300, SCORE_INTEGRATED_GPU = 200, SCORE_ACCELERATOR = 150, SCORE_CPU = 10 };

cl_uint ef_ocl_platforms(cl_platform_id *out, cl_uint cap, cl_int *err) {
    cl_uint n = 0;
    *err = clGetPlatformIDs(cap, out, &n);
    if (*err != CL_SUCCESS) return 0;
    return n < cap ? n : cap;
}

static void info_string(cl_device_id d, cl_device_info what, char *out, size_t cap) {
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, cap, out, NULL) != CL_SUCCESS) out[0] = '\0';
    out[cap - 1] = '\0';
}

static int32_t has_extension(cl_device_id d, const char *ext) {
    size_t n = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || n == 0) return 0;
    char buf[4096]; /* extension lists are a few hundred bytes; longer ones are cut */
    if (n > sizeof buf) n = sizeof buf;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, buf, NULL) != CL_SUCCESS) return 0;
    buf[n - 1] = '\0';
    size_t len = strlen(ext);
    for (const char *p = strstr(buf, ext); p; p = strstr(p + 1, ext))
        if ((p == buf || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0')) return 1;
    return 0;
}

/* The vendor part of CL_PLATFORM_VERSION: "OpenCL 3.0 PoCL 3.1+debian Linux, ..."
 * gives "PoCL 3.1+debian"; empty when there is none. */
static void platform_version(cl_platform_id platform, char *out, size_t cap) {
    char full[512] = "";
    out[0] = '\0';
    if (clGetPlatformInfo(platform, CL_PLATFORM_VERSION, sizeof full, full, NULL) != CL_SUCCESS) return;
    full[sizeof full - 1] = '\0';
    const char *p = full;
    for (int skip = 0; skip < 2 && *p; skip++) { /* "OpenCL" and "x.y" */
        while (*p && *p != ' ') p++;
        while (*p == ' ') p++;
    }
    size_t n = 0;
    for (int words = 0; *p && words < 2 && n + 1 < cap; p++) {
        if (*p == ' ' && ++words == 2) break;
        out[n++] = *p;
    }
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == ',')) n--;
    out[n] = '\0';
}

void ef_ocl_describe(cl_platform_id platform, cl_device_id device, ef_ocl_device *out) {
    memset(out, 0, sizeof *out);
    out->platform = platform;
    out->device = device;
    info_string(device, CL_DEVICE_NAME, out->name, sizeof out->name);
    info_string(device, CL_DRIVER_VERSION, out->driver, sizeof out->driver);
    info_string(device, CL_DEVICE_OPENCL_C_VERSION, out->c_version, sizeof out->c_version);
    if (clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof out->platform_name, out->platform_name, NULL) !=
        CL_SUCCESS)
        out->platform_name[0] = '\0';
    out->platform_name[sizeof out->platform_name - 1] = '\0';
    char pver[64];
    platform_version(platform, pver, sizeof pver);

    cl_device_type type = 0;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    out->type = type;
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    out->unified = unified == CL_TRUE;
    cl_ulong mem = 0;
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    out->memory = mem;
    out->fp16 = has_extension(device, "cl_khr_fp16");
    out->fp64 = has_extension(device, "cl_khr_fp64");

    if (type & CL_DEVICE_TYPE_GPU)
        out->score = out->unified ? SCORE_INTEGRATED_GPU : SCORE_DISCRETE_GPU;
    else if (type & CL_DEVICE_TYPE_ACCELERATOR)
        out->score = SCORE_ACCELERATOR;
    else
        out->score = SCORE_CPU;

    /* "OpenCL C 1.2 PoCL" -> "1.2": the version number after the prefix. */
    const char *cver = out->c_version;
    if (strncmp(cver, "OpenCL C ", 9) == 0) cver += 9;
    char cnum[16];
    size_t i = 0;
    while (cver[i] && cver[i] != ' ' && i + 1 < sizeof cnum) {
        cnum[i] = cver[i];
        i++;
    }
    cnum[i] = '\0';
    /* "NAME (PLATFORM VERSION, OpenCL C x.y[, fp16])" */
    snprintf(out->description, sizeof out->description, "%.120s (%.100s, OpenCL C %.8s%s)", out->name,
             pver[0] ? pver : out->platform_name, cnum, out->fp16 ? ", fp16" : "");
}

static int32_t type_matches(cl_device_type type, int32_t want) {
    if (want == EF_OCL_DEV_GPU) return (type & CL_DEVICE_TYPE_GPU) != 0;
    if (want == EF_OCL_DEV_CPU) return (type & CL_DEVICE_TYPE_CPU) != 0;
    return 1;
}

int32_t ef_ocl_select(int32_t platform, int32_t device, ef_ocl_device *out, char *err, size_t err_cap) {
    cl_platform_id plats[MAX_PLATFORMS];
    cl_int cerr = CL_SUCCESS;
    cl_uint n_plat = ef_ocl_platforms(plats, MAX_PLATFORMS, &cerr);
    if (n_plat == 0) {
        snprintf(err, err_cap, "no OpenCL platform");
        return EF_ERR_UNAVAILABLE;
    }
    if (platform >= (int32_t)n_plat) {
        snprintf(err, err_cap, "opencl.platform %d: only %u platform(s)", platform, n_plat);
        return EF_ERR_INVALID_ARG;
    }
    /* An index without a platform means platform 0. */
    if (platform < 0 && device >= 0) platform = 0;
    int32_t found = 0;
    for (cl_uint p = 0; p < n_plat; p++) {
        if (platform >= 0 && (cl_uint)platform != p) continue;
        cl_device_id devs[MAX_DEVICES];
        cl_uint n_dev = 0;
        /* Query ALL and filter ourselves: asking PoCL for GPUs fails. */
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &n_dev) != CL_SUCCESS) continue;
        if (n_dev > MAX_DEVICES) n_dev = MAX_DEVICES;
        if (device >= 0) {
            if ((cl_uint)device >= n_dev) {
                snprintf(err, err_cap, "opencl.device %d: platform %u has %u device(s)", device, p, n_dev);
                return EF_ERR_INVALID_ARG;
            }
            ef_ocl_describe(plats[p], devs[device], out);
            return EF_OK;
        }
        for (cl_uint d = 0; d < n_dev; d++) {
            ef_ocl_device cand;
            ef_ocl_describe(plats[p], devs[d], &cand);
            if (!type_matches(cand.type, device)) continue;
            if (!found || cand.score > out->score) *out = cand;
            found = 1;
        }
    }
    if (!found) {
        snprintf(err, err_cap, "no OpenCL %sdevice",
                 device == EF_OCL_DEV_GPU ? "GPU " : device == EF_OCL_DEV_CPU ? "CPU " : "");
        return EF_ERR_UNAVAILABLE;
    }
    return EF_OK;
}

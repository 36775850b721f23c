/* The plugin's entry point: the function table, probe and `supports`. */
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"

static int32_t ocl_probe(const ef_be_host *host, ef_be_probe *out) {
    (void)host;
    memset(out, 0, sizeof *out);
    ef_ocl_device dev;
    char err[EF_BE_REASON_MAX] = "";
    /* The device "auto" would get: the best one of any platform. */
    if (ef_ocl_select(-1, EF_OCL_DEV_ANY, &dev, err, sizeof err) != EF_OK) {
        snprintf(out->reason, sizeof out->reason, "%s", err);
        return EF_OK;
    }
    out->available = 1;
    out->score = dev.score;
    out->memory = dev.memory;
    out->caps = (dev.unified ? EF_BE_CAP_UNIFIED : 0u) | (dev.fp16 ? EF_BE_CAP_FP16 : 0u);
    snprintf(out->device, sizeof out->device, "%s", dev.description);
    return EF_OK;
}

static int32_t ocl_set_threads(ef_be_ctx *ctx, int32_t n_threads) {
    (void)ctx;
    (void)n_threads; /* the OpenCL driver schedules its own work */
    return EF_OK;
}

static int32_t is_weight_type(uint32_t type) {
    return type == EF_BE_TYPE_F32 || type == EF_BE_TYPE_F16 || type == EF_BE_TYPE_Q8_0 ||
           type == EF_BE_TYPE_Q4_0 || type == EF_BE_TYPE_Q4_K || type == EF_BE_TYPE_BF16;
}

static int32_t ocl_supports(ef_be_ctx *ctx, uint32_t op, uint32_t type) {
    (void)ctx;
    switch (op) {
    case EF_BE_OP_MATMUL:
    case EF_BE_OP_GET_ROWS:
    case EF_BE_OP_CONVERT: /* source type: F32 <-> F16, any weight type -> F32 */
        return is_weight_type(type);
    case EF_BE_OP_FLASH_ATTN: /* K/V type */
        return type == EF_BE_TYPE_F32 || type == EF_BE_TYPE_F16;
    case EF_BE_OP_RMSNORM:
    case EF_BE_OP_ROPE:
    case EF_BE_OP_SWIGLU:
    case EF_BE_OP_ADD:
    case EF_BE_OP_SCALE:
    case EF_BE_OP_SOFTMAX:
        return type == EF_BE_TYPE_F32;
    default:
        return 0;
    }
}

EF_BACKEND_EXPORT int32_t ef_backend_plugin_entry(const ef_be_host *host, ef_be_iface *iface, size_t iface_size);

int32_t ef_backend_plugin_entry(const ef_be_host *host, ef_be_iface *iface, size_t iface_size) {
    (void)host;
    if (!iface || iface_size < sizeof(ef_be_iface)) return EF_ERR_INVALID_ARG;
    iface->abi_version = EF_BACKEND_ABI_VERSION;
    iface->size = (uint32_t)sizeof(ef_be_iface);
    iface->name = "opencl";
    iface->probe = ocl_probe;
    iface->init = ef_ocl_init;
    iface->shutdown = ef_ocl_shutdown;
    iface->set_threads = ocl_set_threads;
    iface->buffer_alloc = ef_ocl_buffer_alloc;
    iface->buffer_free = ef_ocl_buffer_free;
    iface->buffer_upload = ef_ocl_buffer_upload;
    iface->buffer_download = ef_ocl_buffer_download;
    iface->buffer_map = ef_ocl_buffer_map;
    iface->buffer_unmap = ef_ocl_buffer_unmap;
    iface->synchronize = ef_ocl_synchronize;
    iface->supports = ocl_supports;
    iface->matmul = ef_ocl_matmul;
    iface->get_rows = ef_ocl_get_rows;
    iface->rmsnorm = ef_ocl_rmsnorm;
    iface->rope = ef_ocl_rope;
    iface->swiglu = ef_ocl_swiglu;
    iface->add = ef_ocl_add;
    iface->scale = ef_ocl_scale;
    iface->softmax = ef_ocl_softmax;
    iface->convert = ef_ocl_convert;
    iface->flash_attn = ef_ocl_flash_attn;
    return EF_OK;
}

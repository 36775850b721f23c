/* The AVX-512 quantized kernels per weight type (qdot.h's ef_qkernels).
 * Members left NULL run the AVX2 kernels. */
#include "cpu/qdot.h"

#include "quant/types.h"

const ef_qkernels *ef_qkernels_avx512(uint32_t type) {
    (void)type;
    return NULL; /* none yet */
}

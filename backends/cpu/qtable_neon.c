/* The NEON quantized kernels per weight type (qdot.h's ef_qkernels); the
 * dotprod table adds what SDOT/UDOT improve. Members left NULL run the
 * level below (NEON, then the scalar references). */
#include "cpu/qdot.h"

#include "quant/types.h"

const ef_qkernels *ef_qkernels_neon(uint32_t type, int dotprod) {
    (void)type, (void)dotprod;
    return NULL; /* none yet */
}

/* Version queries of the public API. */
#include "edgeformer/edgeformer.h"

#define EF_STR2(x) #x
#define EF_STR(x) EF_STR2(x)

uint32_t ef_version_number(void) { return (uint32_t)EF_VERSION_NUMBER; }

const char *ef_version_string(void) {
    return EF_STR(EF_VERSION_MAJOR) "." EF_STR(EF_VERSION_MINOR) "." EF_STR(EF_VERSION_PATCH);
}

// The public header in C++17.
#include "abi_header_checks.inc"

// The declarations must have C linkage, or C++ programs could not link the
// library: redeclaring with "C" linkage is an error if the header gave them
// C++ linkage.
extern "C" uint32_t ef_version_number(void);
extern "C" ef_status ef_session_create(ef_model *, const ef_session_params *, ef_session **);
extern "C" void ef_session_free(ef_session *);

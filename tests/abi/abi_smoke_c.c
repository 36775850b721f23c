/* The ABI smoke program in C (built once per standard: C99, C11, C17). */
#include "abi_smoke.inc"

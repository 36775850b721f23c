// The ABI smoke program in C++17.
#include "abi_smoke.inc"

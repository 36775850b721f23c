/* mla_dump: the MLA, window and MoE tests' logit dumper (run_mla_test.py,
 * which passes --mla-mode, --kv, --full-cache, --n-batch and --n-ctx); the
 * program and its options are tests/common/logit_dump.h. */
#include "common/logit_dump.h"

int main(int argc, char **argv) { return logit_dump_main("mla_dump", argc, argv); }

/* dump_logits: the PyTorch conformance tests' logit dumper (run_model_test.py);
 * the program and its options are tests/common/logit_dump.h. */
#include "common/logit_dump.h"

int main(int argc, char **argv) { return logit_dump_main("dump_logits", argc, argv); }

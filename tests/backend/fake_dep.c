/* The library the "missing dependency" fake plugin links against; the test
 * keeps it out of the loader's search path, so dlopen names it as missing. */
__attribute__((visibility("default"))) int fake_dep_answer(void);
int fake_dep_answer(void) { return 0; }

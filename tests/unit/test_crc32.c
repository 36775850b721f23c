/* CRC-32: the table version equals the bit-by-bit definition on every
 * length and alignment, continues across split buffers, and gives the
 * standard check value of the IEEE polynomial. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/crc32.h"

static void test_check_value(void **state) {
    (void)state;
    /* CRC-32/ISO-HDLC of the ASCII digits "123456789" is 0xCBF43926 */
    assert_int_equal(ef_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(ef_crc32_bitwise(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(ef_crc32(0, "", 0), 0u);
}

static void test_table_equals_bitwise(void **state) {
    (void)state;
    unsigned char buf[600];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (unsigned char)(x >> 56);
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 7)
            assert_int_equal(ef_crc32(0, buf + off, n), ef_crc32_bitwise(0, buf + off, n));
    /* continuing over a split buffer equals one pass */
    for (size_t cut = 0; cut <= sizeof buf; cut += 13) {
        uint32_t c = ef_crc32(0, buf, cut);
        assert_int_equal(ef_crc32(c, buf + cut, sizeof buf - cut), ef_crc32(0, buf, sizeof buf));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_table_equals_bitwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

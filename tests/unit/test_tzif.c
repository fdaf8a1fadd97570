/* SPDX-License-Identifier: MIT */
/* The TZif parser (tz/tzif.c) on real system files, every truncation of one, and
 * hostile headers. */
#include <stdlib.h>

#include "cron_test_util.h"
#include "tzif.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void test_new_york(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = slurp("/usr/share/zoneinfo/America/New_York", &len);
    struct tzif z;
    const char *why = NULL;
    assert_int_equal(tzif_parse(data, len, &z, &why), 0);
    assert_string_equal(z.footer, "EST5EDT,M3.2.0,M11.1.0");
    assert_true(z.transition_count > 100);
    int est = 0, edt = 0;
    for (uint32_t i = 0; i < z.type_count; i++) {
        est |= z.types[i].utoff == -18000 && !z.types[i].isdst;
        edt |= z.types[i].utoff == -14400 && z.types[i].isdst;
    }
    assert_true(est && edt);
    /* 2007-03-11T07:00:00Z: the first spring-forward under today's US rule */
    int found = 0;
    for (uint32_t i = 0; i < z.transition_count; i++)
        found |= z.at[i] == 1173596400 && z.types[z.type_index[i]].utoff == -14400;
    assert_true(found);
    tzif_release(&z);
    free(data);
}

static void test_every_truncation_fails_cleanly(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = slurp("/usr/share/zoneinfo/Europe/London", &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
        memcpy(copy, data, cut);
        struct tzif z;
        const char *why = NULL;
        if (tzif_parse(copy, cut, &z, &why) == 0)
            fail_msg("a TZif file cut to %zu of %zu bytes was accepted", cut, len);
        assert_non_null(why);
        free(copy);
    }
    free(data);
}

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_hostile_headers(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = slurp("/usr/share/zoneinfo/Asia/Kolkata", &len);
    struct tzif z;
    const char *why;
    /* bad magic */
    data[0] = 'X';
    assert_int_equal(tzif_parse(data, len, &z, &why), -1);
    data[0] = 'T';
    /* huge counts in the first header */
    uint8_t *copy = malloc(len);
    for (int field = 20; field < 44; field += 4) {
        memcpy(copy, data, len);
        copy[field] = 0x7f;
        assert_int_equal(tzif_parse(copy, len, &z, &why), -1);
    }
    /* a transition naming a type that does not exist, in the 64-bit block: past the first
     * header and its 32-bit data, the second header, then timecnt 8-byte times and the
     * timecnt type indices, of which the first is made to name type typecnt */
    assert_int_equal(tzif_parse(data, len, &z, &why), 0); /* the file as it is parses */
    tzif_release(&z);
    const uint32_t timecnt = be32_at(data + 32), typecnt = be32_at(data + 36);
    const size_t v1 = (size_t)timecnt * 5 + (size_t)typecnt * 6 + be32_at(data + 40) + (size_t)be32_at(data + 28) * 8 +
                      be32_at(data + 24) + be32_at(data + 20);
    const uint8_t *h2 = data + 44 + v1;
    assert_memory_equal(h2, "TZif", 4);
    const uint32_t timecnt2 = be32_at(h2 + 32), typecnt2 = be32_at(h2 + 36);
    assert_true(timecnt2 > 0);
    memcpy(copy, data, len);
    copy[44 + v1 + 44 + (size_t)timecnt2 * 8] = (uint8_t)typecnt2;
    why = NULL;
    assert_int_equal(tzif_parse(copy, len, &z, &why), -1);
    assert_non_null(why);
    assert_non_null(strstr(why, "type"));
    tzif_release(&z);
    free(copy);
    free(data);
    tzif_release(&z); /* releasing twice is harmless */
}

static void test_leap_seconds_refused(void **state)
{
    (void)state;
    FILE *f = fopen("/usr/share/zoneinfo/right/UTC", "rb");
    if (!f)
        skip(); /* only where the right/ zones are installed */
    fclose(f);
    size_t len;
    uint8_t *data = slurp("/usr/share/zoneinfo/right/UTC", &len);
    struct tzif z;
    const char *why = NULL;
    assert_int_equal(tzif_parse(data, len, &z, &why), -1);
    assert_non_null(strstr(why, "leap seconds"));
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_every_truncation_fails_cleanly),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_leap_seconds_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

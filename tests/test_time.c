/* RFC 3339 parsing and formatting: the effect time of every command. */
#define _DEFAULT_SOURCE /* gmtime_r, timegm */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "domain/time.h"

static const struct {
    const char *text;
    bool ok;
    int64_t us; /* since the epoch */
} parse_cases[] = {
    {"1970-01-01T00:00:00Z", true, 0},
    {"2026-11-20T10:00:00Z", true, INT64_C(1795168800000000)},
    {"2026-11-20t10:00:00z", true, INT64_C(1795168800000000)},
    {"2026-11-20T12:00:00+02:00", true, INT64_C(1795168800000000)},
    {"2026-11-20T09:30:00-00:30", true, INT64_C(1795168800000000)},
    {"2026-11-20T10:00:00.5Z", true, INT64_C(1795168800500000)},
    {"2026-11-20T10:00:00.123456789Z", true, INT64_C(1795168800123456)},
    {"2024-02-29T00:00:00Z", true, INT64_C(1709164800000000)},
    {"1969-12-31T23:59:59Z", true, -1000000},
    {"2023-02-29T00:00:00Z", false, 0},
    {"2026-13-01T00:00:00Z", false, 0},
    {"2026-11-31T00:00:00Z", false, 0},
    {"2026-11-20T24:00:00Z", false, 0},
    {"2026-11-20T10:00:00", false, 0},
    {"2026-11-20 10:00:00Z", false, 0},
    {"2026-11-20T10:00:00.Z", false, 0},
    {"2026-11-20T10:00:00+0200", false, 0},
    {"2026-11-20T10:00:00Zjunk", false, 0},
    {"0000-01-01T00:00:00Z", false, 0},
    {"0001-01-01T00:00:00Z", true, PW_TIME_MIN},
    {"9999-12-31T23:59:59.999999Z", true, PW_TIME_MAX},
    /* Valid RFC 3339 whose UTC falls outside years 1 to 9999: the audit's crash. */
    {"0001-01-01T00:00:00+00:01", false, 0},
    {"9999-12-31T23:59:59-00:01", false, 0},
    {"", false, 0},
    {"26-11-20T10:00:00Z", false, 0},
};

Test(time, parses_rfc3339_and_refuses_everything_else)
{
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        pw_time t = 7;
        bool ok = pw_time_parse(parse_cases[i].text, strlen(parse_cases[i].text), &t);
        cr_assert_eq(ok, parse_cases[i].ok, "%s", parse_cases[i].text);
        if (ok)
            cr_assert_eq(t, parse_cases[i].us, "%s", parse_cases[i].text);
        else
            cr_assert_eq(t, 7, "output untouched on failure: %s", parse_cases[i].text);
    }
}

Test(time, formats_utc_with_a_fraction_only_when_there_is_one)
{
    char buf[PW_TIME_STRLEN];
    cr_assert_str_eq(pw_time_format(INT64_C(1795168800000000), buf), "2026-11-20T10:00:00Z");
    cr_assert_str_eq(pw_time_format(INT64_C(1795168800500000), buf), "2026-11-20T10:00:00.5Z");
    cr_assert_str_eq(pw_time_format(INT64_C(1795168800000001), buf),
                     "2026-11-20T10:00:00.000001Z");
    cr_assert_str_eq(pw_time_format(-1, buf), "1969-12-31T23:59:59.999999Z");
    cr_assert_str_eq(pw_time_format(INT64_C(253402300799999999), buf),
                     "9999-12-31T23:59:59.999999Z");
}

Test(time, format_then_parse_is_the_identity)
{
    char buf[PW_TIME_STRLEN];
    for (int64_t t = -INT64_C(62135596800000000); t < INT64_C(253402300799000000);
         t += INT64_C(987654321012345)) {
        pw_time back;
        pw_time_format(t, buf);
        cr_assert(pw_time_parse(buf, strlen(buf), &back), "%s", buf);
        cr_assert_eq(back, t, "%s", buf);
    }
}

/* The formatter against the C library's calendar, across years 0001 to 9999. */
Test(time, formats_as_the_c_library_computes_the_calendar)
{
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: any time in the range */
        pw_time t = PW_TIME_MIN + (pw_time)(x % (uint64_t)(PW_TIME_MAX - PW_TIME_MIN + 1));
        if (i % 3 == 0)
            t -= t % 1000000; /* whole seconds too */
        time_t secs = (time_t)(t >= 0 ? t / 1000000 : -((-t + 999999) / 1000000));
        long us = (long)(t - (pw_time)secs * 1000000);
        struct tm tm;
        cr_assert_not_null(gmtime_r(&secs, &tm));
        char want[96], frac[32] = "";
        if (us) {
            snprintf(frac, sizeof frac, ".%06ld", us);
            size_t end = strlen(frac);
            while (frac[end - 1] == '0')
                frac[--end] = '\0';
        }
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        char buf[PW_TIME_STRLEN];
        cr_assert_str_eq(pw_time_format(t, buf), want, "t = %lld", (long long)t);
    }
}

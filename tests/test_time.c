/* RFC 3339 parsing and formatting: the effect time of every command. */
#include <criterion/criterion.h>
#include <string.h>

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

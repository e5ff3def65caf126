/*
 * RFC 3339 parsing and formatting without the C library's time zone
 * machinery: timegm() is not standard C and mktime() reads the local zone,
 * so the civil-date arithmetic is done here (Howard Hinnant's algorithms).
 */
#include "domain/time.h"

#include <stdio.h>

#define US_PER_SEC INT64_C(1000000)

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n decimal digits at s[*i]. */
static bool digits(const char *s, size_t len, size_t *i, int n, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[*i] - '0');
    }
    *out = v;
    return true;
}

static bool expect(const char *s, size_t len, size_t *i, const char *any)
{
    if (*i >= len)
        return false;
    for (; *any; any++)
        if (s[*i] == *any) {
            (*i)++;
            return true;
        }
    return false;
}

bool pw_time_parse(const char *s, size_t len, pw_time *out)
{
    size_t i = 0;
    unsigned year, mon, day, hour, min, sec;
    if (!digits(s, len, &i, 4, &year) || !expect(s, len, &i, "-") ||
        !digits(s, len, &i, 2, &mon) || !expect(s, len, &i, "-") ||
        !digits(s, len, &i, 2, &day) || !expect(s, len, &i, "Tt") ||
        !digits(s, len, &i, 2, &hour) || !expect(s, len, &i, ":") ||
        !digits(s, len, &i, 2, &min) || !expect(s, len, &i, ":") ||
        !digits(s, len, &i, 2, &sec))
        return false;
    /* RFC 3339 allows a leap second (60); it is folded into the next second. */
    if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
        hour > 23 || min > 59 || sec > 60)
        return false;

    int64_t frac_us = 0;
    if (i < len && s[i] == '.') {
        i++;
        int n = 0;
        int64_t scale = 100000;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_us += (s[i] - '0') * scale;
            scale /= 10;
            i++;
            n++;
        }
        if (n == 0)
            return false;
    }

    int64_t offset_min = 0;
    if (expect(s, len, &i, "Zz")) {
        offset_min = 0;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        unsigned oh, om;
        i++;
        if (!digits(s, len, &i, 2, &oh) || !expect(s, len, &i, ":") ||
            !digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
            return false;
        offset_min = sign * (int64_t)(oh * 60 + om);
    } else {
        return false;
    }
    if (i != len)
        return false;

    int64_t secs = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
    secs -= offset_min * 60;
    pw_time t = secs * US_PER_SEC + frac_us;
    if (!pw_time_in_range(t))
        return false; /* the offset carried it past year 1 or 9999 */
    *out = t;
    return true;
}

/* width decimal digits of v at p; the end. */
static char *time_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* YYYY-MM-DDTHH:MM:SS[.ffffff]Z, the fraction without trailing zeros, as below. */
static char *time_format_fast(char buf[PW_TIME_STRLEN], unsigned y, unsigned m, unsigned d,
                              unsigned secs, unsigned us)
{
    char *p = time_digits(buf, y, 4);
    *p++ = '-';
    p = time_digits(p, m, 2);
    *p++ = '-';
    p = time_digits(p, d, 2);
    *p++ = 'T';
    p = time_digits(p, secs / 3600, 2);
    *p++ = ':';
    p = time_digits(p, secs / 60 % 60, 2);
    *p++ = ':';
    p = time_digits(p, secs % 60, 2);
    if (us) {
        *p++ = '.';
        p = time_digits(p, us, 6);
        while (p[-1] == '0')
            p--;
    }
    *p++ = 'Z';
    *p = '\0';
    return buf;
}

char *pw_time_format(pw_time t, char buf[PW_TIME_STRLEN])
{
    int64_t secs = t / US_PER_SEC;
    int64_t us = t % US_PER_SEC;
    if (us < 0) {
        us += US_PER_SEC;
        secs--;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y >= 0 && y <= 9999) /* every time the contract allows: no printf on the hot path */
        return time_format_fast(buf, (unsigned)y, m, d, (unsigned)rem, (unsigned)us);
    int n = snprintf(buf, PW_TIME_STRLEN, "%04d-%02u-%02uT%02u:%02u:%02u", (int)y, m, d,
                     (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
    if (us && n > 0 && n < PW_TIME_STRLEN - 8) {
        char frac[8];
        snprintf(frac, sizeof frac, ".%06u", (unsigned)us);
        int end = 7;
        while (frac[end - 1] == '0')
            end--;
        frac[end] = '\0';
        n += snprintf(buf + n, (size_t)(PW_TIME_STRLEN - n), "%s", frac);
    }
    if (n > 0 && n < PW_TIME_STRLEN - 1)
        snprintf(buf + n, (size_t)(PW_TIME_STRLEN - n), "Z");
    return buf;
}

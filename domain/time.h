/*
 * Times in postworker are values: microseconds since the Unix epoch, UTC,
 * the precision of PostgreSQL's timestamptz. Domain code receives them (the
 * command's effect time) and never reads a clock, so that replaying the same
 * log gives the same posts and events.
 */
#ifndef PW_DOMAIN_TIME_H
#define PW_DOMAIN_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t pw_time; /* microseconds since 1970-01-01T00:00:00Z */

/* "Not set": a post's deleted_at while it is live. */
#define PW_TIME_NONE INT64_MIN

/*
 * The times the contract takes: 0001-01-01T00:00:00Z to
 * 9999-12-31T23:59:59.999999Z, what RFC 3339 and PostgreSQL can both write.
 */
#define PW_TIME_MIN ((pw_time)-62135596800 * 1000000)
#define PW_TIME_MAX ((pw_time)253402300799 * 1000000 + 999999)

static inline bool pw_time_in_range(pw_time t)
{
    return t >= PW_TIME_MIN && t <= PW_TIME_MAX;
}

/* Enough for "9999-12-31T23:59:59.999999Z" and the NUL. */
#define PW_TIME_STRLEN 28

/*
 * Parses an RFC 3339 date-time ("2026-11-20T10:00:00Z",
 * "2026-11-20t12:00:00.25+02:00") of len bytes into *out. Fractions beyond
 * microseconds are truncated. Returns false, leaving *out untouched, for
 * anything else, including impossible dates and times outside PW_TIME_MIN to
 * PW_TIME_MAX once converted to UTC ("0001-01-01T00:00:00+00:01" is year 0).
 */
bool pw_time_parse(const char *s, size_t len, pw_time *out);

/*
 * Writes t as RFC 3339 in UTC: seconds always, then a fraction only if it is
 * not zero, without trailing zeros ("2026-11-20T10:00:00.5Z"). buf must hold
 * PW_TIME_STRLEN bytes. Returns buf.
 */
char *pw_time_format(pw_time t, char buf[PW_TIME_STRLEN]);

#endif

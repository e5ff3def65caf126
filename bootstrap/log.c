/*
 * Log lines with a wall-clock time: bootstrap is the one place that reads
 * it. Text ("2026-11-21T10:00:00.123Z postworker info: ...") or JSON (one
 * object a line: time, level, program, msg, and the fields of the message
 * a line is about), at or above a level.
 */
#include "bootstrap/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "domain/text.h"

static const char *log_program = "postworker";
static bool log_json;
static int log_min = 1; /* info */

static int log_rank(const char *level)
{
    static const char *const ranks[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(level, ranks[i]) == 0)
            return i;
    return 1;
}

void pw_log_init(const char *program)
{
    log_program = program;
}

void pw_log_configure(const char *format, const char *level)
{
    log_json = format && strcmp(format, "json") == 0;
    log_min = level ? log_rank(level) : 1;
}

/* s as the inside of a JSON string: s is already escaped text, so only " and \ remain. */
static void json_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
}

/* A string field of a JSON line, escaped for a log line first (it came from a message). */
static void json_field(FILE *out, const char *name, const char *value)
{
    if (!value)
        return;
    char safe[512];
    pw_text_escape(value, safe, sizeof safe);
    fprintf(out, ",\"%s\":\"", name);
    json_text(out, safe);
    fputc('"', out);
}

void pw_log_line(const char *level, const char *msg)
{
    pw_log_line_fields(level, NULL, msg);
}

void pw_log_line_fields(const char *level, const struct pw_log_fields *f, const char *msg)
{
    if (log_rank(level) < log_min)
        return;
    /* RFC 3339, UTC, with milliseconds. */
    char when[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", now.tv_nsec / 1000000);
    /* Messages quote what producers sent: escaped, so that none can forge a line. */
    char safe[4096];
    pw_text_escape(msg, safe, sizeof safe);
    if (!log_json) {
        fprintf(stderr, "%s %s %s: %s\n", when, log_program, level, safe);
        return;
    }
    flockfile(stderr); /* one line, whole, even from librdkafka's threads */
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"program\":\"%s\",\"msg\":\"", when, level,
            log_program);
    json_text(stderr, safe);
    fputc('"', stderr);
    if (f) {
        if (f->partition >= 0)
            fprintf(stderr, ",\"partition\":%d", (int)f->partition);
        if (f->offset >= 0)
            fprintf(stderr, ",\"offset\":%lld", (long long)f->offset);
        json_field(stderr, "post_id", f->post_id);
        json_field(stderr, "source", f->source);
        json_field(stderr, "id", f->id);
        json_field(stderr, "code", f->code);
        json_field(stderr, "trace_id", f->trace_id);
    }
    fputs("}\n", stderr);
    funlockfile(stderr);
}

void pw_log(const char *level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pw_log_line(level, msg);
}

/* Log lines with a wall-clock time: bootstrap is the one place that reads it. */
#include "bootstrap/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "domain/text.h"

static const char *log_program = "postworker";

void pw_log_init(const char *program)
{
    log_program = program;
}

void pw_log_line(const char *level, const char *msg)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* Messages quote what producers sent: escaped, so that none can forge a line. */
    char safe[4096];
    fprintf(stderr, "%s %s %s: %s\n", when, log_program, level,
            pw_text_escape(msg, safe, sizeof safe));
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

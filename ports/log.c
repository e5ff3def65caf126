#include "ports/log.h"

#include <stdarg.h>
#include <stdio.h>

void pw_logf(pw_log_fn log, const char *level, const char *fmt, ...)
{
    if (!log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log(level, msg);
}

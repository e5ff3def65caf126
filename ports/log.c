#include "ports/log.h"

#include <stdio.h>

void pw_vlogf(pw_log_fn log, const char *level, const char *fmt, va_list ap)
{
    if (!log)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    log(level, msg);
}

void pw_logf(pw_log_fn log, const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pw_vlogf(log, level, fmt, ap);
    va_end(ap);
}

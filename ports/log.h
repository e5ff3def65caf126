/*
 * Port: the log. One line at a level ("debug", "info", "warn", "error"),
 * without a newline; where it goes and how it is shaped (text or JSON, a
 * time stamp) is the caller's, which hands the function in. Messages may
 * quote what producers sent: the function escapes them.
 */
#ifndef PW_PORTS_LOG_H
#define PW_PORTS_LOG_H

#include <stdarg.h>

typedef void (*pw_log_fn)(const char *level, const char *msg);

/* Formats one line (cut at 1 KiB) and hands it to log; nothing if log is NULL. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void pw_logf(pw_log_fn log, const char *level, const char *fmt, ...);
/* The same with the arguments in ap. */
void pw_vlogf(pw_log_fn log, const char *level, const char *fmt, va_list ap);

#endif

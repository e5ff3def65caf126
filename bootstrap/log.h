/*
 * Log lines for people: "2026-11-21T10:00:00Z postworker info: ...", on
 * standard error, one line each.
 */
#ifndef PW_BOOTSTRAP_LOG_H
#define PW_BOOTSTRAP_LOG_H

#include <stdbool.h>

/* Sets the program name that prefixes each line. */
void pw_log_init(const char *program);

/* format "text" or "json", level "debug", "info", "warn" or "error": lines below it are dropped. */
void pw_log_configure(const char *format, const char *level);

/* One line at level ("debug", "info", "warn", "error"); the signature of pw_log_fn. */
void pw_log_line(const char *level, const char *msg);

void pw_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

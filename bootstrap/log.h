/*
 * Log lines for people: "2026-11-21T10:00:00.123Z postworker info: ...",
 * on standard error, one line each; or JSON, one object a line.
 */
#ifndef PW_BOOTSTRAP_LOG_H
#define PW_BOOTSTRAP_LOG_H

#include <stdbool.h>

#include "ports/log.h"

/* Sets the program name that prefixes each line. */
void pw_log_init(const char *program);

/* format "text" or "json", level "debug", "info", "warn" or "error": lines below it are dropped. */
void pw_log_configure(const char *format, const char *level);

/* One line at level ("debug", "info", "warn", "error"); the signature of pw_log_fn. */
void pw_log_line(const char *level, const char *msg);
/* The same with fields: in JSON, each one a field of the object; in text, the line alone. */
void pw_log_line_fields(const char *level, const struct pw_log_fields *f, const char *msg);

void pw_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/*
 * Port: the log. One line at a level ("debug", "info", "warn", "error"),
 * without a newline; where it goes and how it is shaped (text or JSON, a
 * time stamp) is the caller's, which hands the function in. Messages may
 * quote what producers sent: the function escapes them.
 */
#ifndef PW_PORTS_LOG_H
#define PW_PORTS_LOG_H

#include <stdarg.h>
#include <stdint.h>

typedef void (*pw_log_fn)(const char *level, const char *msg);

/*
 * What a search needs of the message a line is about, as fields of their
 * own (JSON logs): -1 or NULL where there is none. The strings came from
 * a message: the function escapes them.
 */
struct pw_log_fields {
    int32_t partition;
    int64_t offset;
    const char *post_id;
    const char *source, *id; /* the command's */
    const char *code;        /* an error's (dlq.error.code) */
    const char *trace_id;    /* W3C, 32 hex digits */
};

/* A log line with fields; where there is none, a pw_log_fn takes the line without them. */
typedef void (*pw_log_fields_fn)(const char *level, const struct pw_log_fields *f,
                                 const char *msg);

/* Formats one line (cut at 1 KiB) and hands it to log; nothing if log is NULL. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void pw_logf(pw_log_fn log, const char *level, const char *fmt, ...);
/* The same with the arguments in ap. */
void pw_vlogf(pw_log_fn log, const char *level, const char *fmt, va_list ap);

#endif

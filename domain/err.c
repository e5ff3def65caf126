/*
 * Names and kinds of the error enum, expanded from PW_ERR_LIST, and the
 * errbuf helpers. Nothing here allocates.
 */
#include "domain/err.h"

#include <stdarg.h>
#include <stdio.h>

#include "domain/text.h"

static const struct {
    const char *name;
    enum pw_err_kind kind;
} pw_err_table[] = {
#define PW_ERR_ROW(suffix, name, kind) {name, kind},
    PW_ERR_LIST(PW_ERR_ROW)
#undef PW_ERR_ROW
};

const char *pw_err_name(enum pw_err code)
{
    if ((unsigned)code >= PW_E__COUNT)
        return "unknown";
    return pw_err_table[code].name;
}

enum pw_err_kind pw_err_kind(enum pw_err code)
{
    if ((unsigned)code >= PW_E__COUNT)
        return PW_KIND_FATAL;
    return pw_err_table[code].kind;
}

const char *pw_err_kind_name(enum pw_err_kind kind)
{
    switch (kind) {
    case PW_KIND_NONE: return "none";
    case PW_KIND_MALFORMED: return "malformed";
    case PW_KIND_UNSUPPORTED: return "unsupported";
    case PW_KIND_REJECTED: return "rejected";
    case PW_KIND_FAILED: return "failed";
    case PW_KIND_TRANSIENT: return "transient";
    case PW_KIND_FATAL: return "fatal";
    }
    return "fatal";
}

enum pw_err pw_err_set(struct pw_errbuf *err, enum pw_err code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /*
     * The message lands in a Kafka header, a text column and a log line, and
     * may quote a message's bytes or be cut mid-character by the buffer:
     * keep it one line of valid UTF-8.
     */
    pw_text_scrub(err->msg);
    err->code = code;
    return code;
}

void pw_err_clear(struct pw_errbuf *err)
{
    if (!err)
        return;
    err->code = PW_OK;
    err->msg[0] = '\0';
}

/*
 * The one error enum of postworker, generated with its names, kinds and
 * defaults from a single X-macro list so that they cannot drift apart.
 *
 * The names are the contract's dlq.error.code values: an error that reaches
 * the dead-letter topic carries pw_err_name() verbatim.
 */
#ifndef PW_DOMAIN_ERR_H
#define PW_DOMAIN_ERR_H

#include <assert.h>
#include <stdbool.h>

/* What an error means for a message: which dead-letter kind, or none. */
enum pw_err_kind {
    PW_KIND_NONE,        /* PW_OK */
    PW_KIND_MALFORMED,   /* not JSON, not a CloudEvent, attribute missing or wrong */
    PW_KIND_UNSUPPORTED, /* a good envelope of a type nobody handles */
    PW_KIND_REJECTED,    /* a good command that a field or business rule refused */
    PW_KIND_FAILED,      /* a good command that could not be applied (the store refused it) */
    PW_KIND_TRANSIENT,   /* a dependency failed; the same work may succeed later (interrupted:
                          * the store cut a statement off, as statement_timeout does) */
    PW_KIND_FATAL,       /* a bug, exhaustion, or bad configuration: stop (lost_commits: the
                          * store lost commits it had acknowledged, which --durability
                          * relaxed allows, or a commit sent without waiting did not
                          * complete: the worker reads again from its stored offsets) */
};

/*           enum suffix        name (dlq.error.code)   kind */
#define PW_ERR_LIST(X)                                                 \
    X(OK,                "ok",                 PW_KIND_NONE)          \
    X(INVALID_JSON,      "invalid_json",       PW_KIND_MALFORMED)     \
    X(MISSING_ATTRIBUTE, "missing_attribute",  PW_KIND_MALFORMED)     \
    X(INVALID_ATTRIBUTE, "invalid_attribute",  PW_KIND_MALFORMED)     \
    X(TOO_LARGE,         "too_large",          PW_KIND_MALFORMED)     \
    X(UNKNOWN_TYPE,      "unknown_type",       PW_KIND_UNSUPPORTED)   \
    X(VALIDATION_FAILED, "validation_failed",  PW_KIND_REJECTED)      \
    X(ALREADY_EXISTS,    "already_exists",     PW_KIND_REJECTED)      \
    X(NOT_FOUND,         "not_found",          PW_KIND_REJECTED)      \
    X(POST_DELETED,      "post_deleted",       PW_KIND_REJECTED)      \
    X(VERSION_CONFLICT,  "version_conflict",   PW_KIND_REJECTED)      \
    X(APPLY_FAILED,      "apply_failed",       PW_KIND_FAILED)        \
    X(MAX_ATTEMPTS,      "max_attempts",       PW_KIND_FAILED)        \
    X(TRANSIENT,         "transient",          PW_KIND_TRANSIENT)     \
    X(INTERRUPTED,       "interrupted",        PW_KIND_TRANSIENT)     \
    X(NOMEM,             "out_of_memory",      PW_KIND_FATAL)         \
    X(LOST_COMMITS,      "lost_commits",       PW_KIND_FATAL)         \
    X(USAGE,             "usage",              PW_KIND_FATAL)         \
    X(FATAL,             "fatal",              PW_KIND_FATAL)

enum pw_err {
#define PW_ERR_ENUM(suffix, name, kind) PW_E_##suffix,
    PW_ERR_LIST(PW_ERR_ENUM)
#undef PW_ERR_ENUM
    PW_E__COUNT
};
#define PW_OK PW_E_OK

/*
 * A human message beside the code. It lives in the caller's storage so that
 * the error path never allocates. msg is always one NUL-terminated line.
 */
struct pw_errbuf {
    enum pw_err code;
    char msg[256];
};

/* "invalid_json", ...; "unknown" for a value outside the enum. */
const char *pw_err_name(enum pw_err code);
enum pw_err_kind pw_err_kind(enum pw_err code);
/* "malformed", "unsupported", "rejected", "failed", "transient", "fatal", "none". */
const char *pw_err_kind_name(enum pw_err_kind kind);

static inline bool pw_err_is_transient(enum pw_err code)
{
    return pw_err_kind(code) == PW_KIND_TRANSIENT;
}

/* True for the codes whose message goes to the dead-letter topic. */
static inline bool pw_err_is_dead_letter(enum pw_err code)
{
    enum pw_err_kind kind = pw_err_kind(code);
    return kind == PW_KIND_MALFORMED || kind == PW_KIND_UNSUPPORTED || kind == PW_KIND_REJECTED ||
           kind == PW_KIND_FAILED;
}

/*
 * Records code and a printf-style message in err (which may be NULL) and
 * returns code, so that a failure reads `return pw_err_set(err, ...)`.
 * Control characters in the message become '?', so it stays one line.
 */
enum pw_err pw_err_set(struct pw_errbuf *err, enum pw_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to PW_OK with an empty message; err may be NULL. */
void pw_err_clear(struct pw_errbuf *err);

/*
 * The rule every port operation keeps, checked in the ports' wrappers: a
 * failure's code is in err as well, so that its message belongs to it.
 */
static inline enum pw_err pw_err_checked(const struct pw_errbuf *err, enum pw_err rc)
{
    assert(!err || rc == PW_OK || err->code == rc);
    return rc;
}
#define PW_PORT_CHECK(err, call) pw_err_checked((err), (call))

#endif

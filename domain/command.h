/*
 * The commands of the contract, as plain data: the CloudEvents envelope that
 * identifies a command (source, id, effect time, correlation id) and the
 * fields of its data. The codec fills one in; handlers read it.
 *
 * Adding a command: a row in PW_CMD_LIST, its rule in domain/post.c, its
 * use case in handlers/, and a line in the registry.
 */
#ifndef PW_DOMAIN_COMMAND_H
#define PW_DOMAIN_COMMAND_H

#include "domain/trace.h"

#include <stdint.h>

#include "domain/err.h"
#include "domain/time.h"

/*      enum suffix   wire name (CloudEvents type) */
#define PW_CMD_LIST(X)              \
    X(CREATE_POST, "CreatePost")    \
    X(UPDATE_POST, "UpdatePost")    \
    X(DELETE_POST, "DeletePost")

enum pw_cmd_type {
#define PW_CMD_ENUM(suffix, name) PW_CMD_##suffix,
    PW_CMD_LIST(PW_CMD_ENUM)
#undef PW_CMD_ENUM
    PW_CMD__COUNT
};

/* Attribute limits of the contract, in code points. */
#define PW_CMD_ID_MAX 128
#define PW_CMD_SOURCE_MAX 256
#define PW_CMD_CORRELATION_MAX 128
/* The same limits in bytes of UTF-8 (4 bytes per code point at most). */
#define PW_CMD_ID_BYTES (4 * PW_CMD_ID_MAX)
#define PW_CMD_SOURCE_BYTES (4 * PW_CMD_SOURCE_MAX)
#define PW_CMD_CORRELATION_BYTES (4 * PW_CMD_CORRELATION_MAX)

#define PW_POST_ID_MAX 64
#define PW_AUTHOR_MAX 100
#define PW_TITLE_MAX 200
#define PW_BODY_MAX 100000
/* Versions are stored in a PostgreSQL integer. */
#define PW_VERSION_MAX INT32_MAX

/*
 * Who sent a command and when it takes effect. (source, id) identifies the
 * command for the inbox; time is the effect time (the CloudEvents time
 * attribute, else the Kafka timestamp); correlation_id is "" when absent.
 */
struct pw_envelope {
    char source[PW_CMD_SOURCE_BYTES + 1];
    char id[PW_CMD_ID_BYTES + 1];
    char correlation_id[PW_CMD_CORRELATION_BYTES + 1];
    pw_time time;
    char traceparent[PW_TRACEPARENT_LEN + 1]; /* W3C trace context; "" for none */
    char tracestate[PW_TRACESTATE_MAX + 1];
};

/*
 * A decoded command. The string fields are NUL-terminated and contain no NUL
 * (the codec refuses those); a NULL pointer means the field was absent.
 * They point into mem when mem is set (the decoder's one allocation), or at
 * storage the caller keeps alive (tests). expected_version is 0 when absent.
 */
struct pw_cmd {
    enum pw_cmd_type type;
    struct pw_envelope env;
    const char *post_id;
    const char *author_name;
    const char *title;
    const char *body;
    int64_t expected_version;
    /*
     * The name of the first data field whose JSON type was wrong (a number
     * for a title, say), or NULL. Validation rejects such a command, so that
     * it is rejected through the dispatcher and marked processed.
     */
    const char *type_error;
    char *mem;
};

/* "CreatePost", ...; NULL for a value outside the enum. */
const char *pw_cmd_type_name(enum pw_cmd_type type);

/* Looks up a wire name of len bytes; false if no command has it. */
bool pw_cmd_type_from_name(const char *name, size_t len, enum pw_cmd_type *out);

/*
 * Checks every field rule of the contract for cmd's type: the fields it needs
 * are present and within their limits. Returns PW_OK or
 * PW_E_VALIDATION_FAILED with a message naming the field.
 */
enum pw_err pw_cmd_validate(const struct pw_cmd *cmd, struct pw_errbuf *err);

/* Frees cmd->mem and zeroes cmd; safe on a zeroed command. */
void pw_cmd_release(struct pw_cmd *cmd);

#endif

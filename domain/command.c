/*
 * Command names and the contract's field rules. The rules live here, not in
 * the codec, so that every way a command can arrive is held to them.
 */
#include "domain/command.h"

#include <stdlib.h>
#include <string.h>

#include "domain/post.h"
#include "domain/text.h"

static const char *const pw_cmd_names[] = {
#define PW_CMD_NAME(suffix, name) name,
    PW_CMD_LIST(PW_CMD_NAME)
#undef PW_CMD_NAME
};

const char *pw_cmd_type_name(enum pw_cmd_type type)
{
    if ((unsigned)type >= PW_CMD__COUNT)
        return NULL;
    return pw_cmd_names[type];
}

bool pw_cmd_type_from_name(const char *name, size_t len, enum pw_cmd_type *out)
{
    for (unsigned i = 0; i < PW_CMD__COUNT; i++) {
        if (strlen(pw_cmd_names[i]) == len && memcmp(pw_cmd_names[i], name, len) == 0) {
            *out = (enum pw_cmd_type)i;
            return true;
        }
    }
    return false;
}

/* A text field of 1 to max code points; blank_ok says if all-space passes. */
static enum pw_err check_text(const char *field, const char *s, long max, bool blank_ok,
                              struct pw_errbuf *err)
{
    if (!s)
        return pw_err_set(err, PW_E_VALIDATION_FAILED, "%s is required", field);
    size_t len = strlen(s);
    long n = pw_text_codepoints(s, len);
    if (n < 0)
        return pw_err_set(err, PW_E_VALIDATION_FAILED, "%s is not valid UTF-8", field);
    if (n < 1 || n > max)
        return pw_err_set(err, PW_E_VALIDATION_FAILED,
                          "%s must be 1 to %ld characters, not %ld", field, max, n);
    if (!blank_ok && pw_text_is_blank(s, len))
        return pw_err_set(err, PW_E_VALIDATION_FAILED, "%s must not be all white space", field);
    return PW_OK;
}

static enum pw_err check_body(const char *body, struct pw_errbuf *err)
{
    if (!body)
        return pw_err_set(err, PW_E_VALIDATION_FAILED, "body is required");
    size_t len = strlen(body);
    if (len < 1 || len > PW_BODY_MAX)
        return pw_err_set(err, PW_E_VALIDATION_FAILED,
                          "body must be 1 to %d bytes, not %zu", PW_BODY_MAX, len);
    if (pw_text_codepoints(body, len) < 0)
        return pw_err_set(err, PW_E_VALIDATION_FAILED, "body is not valid UTF-8");
    return PW_OK;
}

static enum pw_err check_expected_version(const struct pw_cmd *cmd, struct pw_errbuf *err)
{
    /* 0 means absent; the codec turns an explicit 0 or less into -1. */
    if (cmd->expected_version < 0 || cmd->expected_version > PW_VERSION_MAX)
        return pw_err_set(err, PW_E_VALIDATION_FAILED,
                          "expected_version must be an integer from 1 to %d", PW_VERSION_MAX);
    return PW_OK;
}

enum pw_err pw_cmd_validate(const struct pw_cmd *cmd, struct pw_errbuf *err)
{
    if (cmd->type_error)
        return pw_err_set(err, PW_E_VALIDATION_FAILED, "%s has the wrong JSON type",
                          cmd->type_error);
    enum pw_err rc = pw_post_check_id(cmd->post_id, err);
    if (rc)
        return rc;
    switch (cmd->type) {
    case PW_CMD_CREATE_POST:
        if ((rc = check_text("author_name", cmd->author_name, PW_AUTHOR_MAX, false, err)) ||
            (rc = check_text("title", cmd->title, PW_TITLE_MAX, false, err)) ||
            (rc = check_body(cmd->body, err)))
            return rc;
        return PW_OK;
    case PW_CMD_UPDATE_POST:
        if (!cmd->title && !cmd->body)
            return pw_err_set(err, PW_E_VALIDATION_FAILED,
                              "an update needs at least one of title and body");
        if ((cmd->title && (rc = check_text("title", cmd->title, PW_TITLE_MAX, false, err))) ||
            (cmd->body && (rc = check_body(cmd->body, err))))
            return rc;
        return check_expected_version(cmd, err);
    case PW_CMD_DELETE_POST:
        return check_expected_version(cmd, err);
    case PW_CMD__COUNT:
        break;
    }
    return pw_err_set(err, PW_E_UNKNOWN_TYPE, "no such command type %d", (int)cmd->type);
}

void pw_cmd_release(struct pw_cmd *cmd)
{
    free(cmd->mem);
    memset(cmd, 0, sizeof *cmd);
}

/*
 * The business rules of the contract. Each rule checks everything before it
 * changes anything, so that a rejected command leaves the post as it was.
 */
#include "domain/post.h"

#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

enum pw_err pw_post_check_id(const char *post_id, struct pw_errbuf *err)
{
    if (!post_id)
        return pw_err_set(err, PW_E_VALIDATION_FAILED, "post_id is required");
    size_t len = strlen(post_id);
    if (len < 1 || len > PW_POST_ID_MAX)
        return pw_err_set(err, PW_E_VALIDATION_FAILED,
                          "post_id must be 1 to %d characters, not %zu", PW_POST_ID_MAX, len);
    for (size_t i = 0; i < len; i++) {
        char c = post_id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return pw_err_set(err, PW_E_VALIDATION_FAILED,
                              "post_id '%.64s' may use only A-Z a-z 0-9 . _ -", post_id);
    }
    return PW_OK;
}

enum pw_err pw_post_create(bool exists, const struct pw_cmd *cmd, struct pw_post *post,
                           struct pw_errbuf *err)
{
    if (exists)
        return pw_err_set(err, PW_E_ALREADY_EXISTS, "post '%s' already exists", cmd->post_id);
    struct pw_post p = {0};
    memcpy(p.post_id, cmd->post_id, strlen(cmd->post_id) + 1);
    p.author_name = dup_str(cmd->author_name);
    p.title = dup_str(cmd->title);
    p.body = dup_str(cmd->body);
    if (!p.author_name || !p.title || !p.body) {
        pw_post_release(&p);
        return pw_err_set(err, PW_E_NOMEM, "out of memory creating post '%s'", cmd->post_id);
    }
    p.version = 1;
    p.created_at = p.updated_at = cmd->env.time;
    p.deleted_at = PW_TIME_NONE;
    *post = p;
    return PW_OK;
}

/* The checks UpdatePost and DeletePost share: exists, live, expected version. */
static enum pw_err check_change(const struct pw_post *post, const struct pw_cmd *cmd,
                                struct pw_errbuf *err)
{
    if (!post)
        return pw_err_set(err, PW_E_NOT_FOUND, "post '%s' does not exist", cmd->post_id);
    if (pw_post_is_deleted(post))
        return pw_err_set(err, PW_E_POST_DELETED, "post '%s' is deleted", cmd->post_id);
    if (cmd->expected_version && cmd->expected_version != post->version)
        return pw_err_set(err, PW_E_VERSION_CONFLICT,
                          "post '%s' is at version %lld, not the expected %lld", cmd->post_id,
                          (long long)post->version, (long long)cmd->expected_version);
    if (post->version >= PW_VERSION_MAX)
        return pw_err_set(err, PW_E_VALIDATION_FAILED, "post '%s' has reached its last version",
                          cmd->post_id);
    return PW_OK;
}

enum pw_err pw_post_update(struct pw_post *post, const struct pw_cmd *cmd, struct pw_errbuf *err)
{
    enum pw_err rc = check_change(post, cmd, err);
    if (rc)
        return rc;
    char *title = cmd->title ? dup_str(cmd->title) : NULL;
    char *body = cmd->body ? dup_str(cmd->body) : NULL;
    if ((cmd->title && !title) || (cmd->body && !body)) {
        free(title);
        free(body);
        return pw_err_set(err, PW_E_NOMEM, "out of memory updating post '%s'", cmd->post_id);
    }
    if (title) {
        free(post->title);
        post->title = title;
    }
    if (body) {
        free(post->body);
        post->body = body;
    }
    post->version++;
    post->updated_at = cmd->env.time;
    return PW_OK;
}

enum pw_err pw_post_delete(struct pw_post *post, const struct pw_cmd *cmd, struct pw_errbuf *err)
{
    enum pw_err rc = check_change(post, cmd, err);
    if (rc)
        return rc;
    post->version++;
    post->updated_at = cmd->env.time;
    post->deleted_at = cmd->env.time;
    return PW_OK;
}

enum pw_err pw_post_copy(struct pw_post *dst, const struct pw_post *src)
{
    struct pw_post p = *src;
    p.author_name = dup_str(src->author_name);
    p.title = dup_str(src->title);
    p.body = dup_str(src->body);
    if (!p.author_name || !p.title || !p.body) {
        pw_post_release(&p);
        memset(dst, 0, sizeof *dst);
        return PW_E_NOMEM;
    }
    *dst = p;
    return PW_OK;
}

void pw_post_release(struct pw_post *post)
{
    free(post->author_name);
    free(post->title);
    free(post->body);
    memset(post, 0, sizeof *post);
}

/*
 * The Post entity and its business rules. A rule is a function from the
 * current state (a post, or none) and a validated command to a new state or
 * a rejection; it never reads a clock or touches storage.
 */
#ifndef PW_DOMAIN_POST_H
#define PW_DOMAIN_POST_H

#include <stdint.h>

#include "domain/command.h"
#include "domain/err.h"
#include "domain/time.h"

/*
 * A post. The three text fields are owned heap strings (NULL only in a
 * zeroed post); deleted_at is PW_TIME_NONE while the post is live.
 */
struct pw_post {
    char post_id[PW_POST_ID_MAX + 1];
    char *author_name;
    char *title;
    char *body;
    int64_t version;
    pw_time created_at;
    pw_time updated_at;
    pw_time deleted_at;
};

static inline bool pw_post_is_deleted(const struct pw_post *post)
{
    return post->deleted_at != PW_TIME_NONE;
}

/* post_id: 1 to 64 characters of A-Z a-z 0-9 . _ -; NULL is "required". */
enum pw_err pw_post_check_id(const char *post_id, struct pw_errbuf *err);

/*
 * CreatePost. exists says whether a post of that id is stored, deleted or
 * not. On PW_OK *post is a new post (version 1) that the caller owns; on
 * failure (PW_E_ALREADY_EXISTS, PW_E_NOMEM) *post is untouched.
 * cmd must have passed pw_cmd_validate().
 */
enum pw_err pw_post_create(bool exists, const struct pw_cmd *cmd, struct pw_post *post,
                           struct pw_errbuf *err);

/*
 * UpdatePost and DeletePost. post is the stored post, or NULL if there is
 * none. On PW_OK *post has changed and its version is one more; on failure
 * (PW_E_NOT_FOUND, PW_E_POST_DELETED, PW_E_VERSION_CONFLICT, PW_E_NOMEM) it
 * is untouched. cmd must have passed pw_cmd_validate().
 */
enum pw_err pw_post_update(struct pw_post *post, const struct pw_cmd *cmd, struct pw_errbuf *err);
enum pw_err pw_post_delete(struct pw_post *post, const struct pw_cmd *cmd, struct pw_errbuf *err);

/* Deep copy of src into *dst, which the caller then owns. PW_E_NOMEM leaves *dst zeroed. */
enum pw_err pw_post_copy(struct pw_post *dst, const struct pw_post *src);

/* Frees what post holds and zeroes it; safe on a zeroed post. */
void pw_post_release(struct pw_post *post);

#endif

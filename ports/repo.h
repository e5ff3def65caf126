/*
 * Port: the post repository. A repository is always bound to a unit of work
 * (pw_uow_posts()): what it reads and writes is inside that transaction, and
 * nothing it writes is visible to others before the unit of work commits.
 */
#ifndef PW_PORTS_REPO_H
#define PW_PORTS_REPO_H

#include "domain/err.h"
#include "domain/post.h"

struct pw_repo_ops {
    const char *name;
    /*
     * Loads the post post_id, deleted or not, into *post, which the caller
     * then owns (pw_post_release). Returns PW_E_NOT_FOUND if there is none,
     * or a transient error; *post is untouched on failure.
     */
    enum pw_err (*get)(void *self, const char *post_id, struct pw_post *post,
                       struct pw_errbuf *err);
    /*
     * Stores a new post; post stays the caller's. Returns
     * PW_E_ALREADY_EXISTS if its post_id is taken.
     */
    enum pw_err (*add)(void *self, const struct pw_post *post, struct pw_errbuf *err);
    /*
     * Replaces the stored post of post->post_id, which must be at version
     * post->version - 1: PW_E_NOT_FOUND if there is none,
     * PW_E_VERSION_CONFLICT if another change came first.
     */
    enum pw_err (*save)(void *self, const struct pw_post *post, struct pw_errbuf *err);
};

struct pw_repo {
    const struct pw_repo_ops *ops;
    void *self;
};

static inline enum pw_err pw_repo_get(struct pw_repo *repo, const char *post_id,
                                      struct pw_post *post, struct pw_errbuf *err)
{
    return repo->ops->get(repo->self, post_id, post, err);
}

static inline enum pw_err pw_repo_add(struct pw_repo *repo, const struct pw_post *post,
                                      struct pw_errbuf *err)
{
    return repo->ops->add(repo->self, post, err);
}

static inline enum pw_err pw_repo_save(struct pw_repo *repo, const struct pw_post *post,
                                       struct pw_errbuf *err)
{
    return repo->ops->save(repo->self, post, err);
}

#endif

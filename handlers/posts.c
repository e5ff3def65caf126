/*
 * The post use cases. Each one loads, lets the domain decide, and only then
 * writes: the order that the registry's handler contract relies on.
 */
#include "handlers/registry.h"

#include "domain/post.h"

/*
 * The first steps of every use case: validate, then load the post. *found
 * says whether there is one (then *post is the caller's); any other failure
 * is returned.
 */
static enum pw_err validate_and_load(struct pw_repo *repo, const struct pw_cmd *cmd,
                                     struct pw_post *post, bool *found, struct pw_errbuf *err)
{
    enum pw_err rc = pw_cmd_validate(cmd, err);
    if (!rc)
        rc = pw_repo_get(repo, cmd->post_id, post, err);
    *found = rc == PW_OK;
    return rc == PW_E_NOT_FOUND ? PW_OK : rc;
}

static enum pw_err handle_create(struct pw_repo *repo, const struct pw_cmd *cmd,
                                 struct pw_event evs[PW_CMD_MAX_EVENTS], size_t *nevs,
                                 struct pw_errbuf *err)
{
    struct pw_post post = {0};
    bool exists;
    *nevs = 0;
    enum pw_err rc = validate_and_load(repo, cmd, &post, &exists, err);
    pw_post_release(&post);
    if (rc)
        return rc;

    rc = pw_post_create(exists, cmd, &post, err);
    if (rc)
        return rc;
    rc = pw_repo_add(repo, &post, err);
    if (rc) {
        pw_post_release(&post);
        return rc;
    }
    pw_event_init(&evs[0], PW_EVENT_POST_CREATED, 0, &cmd->env, &post);
    *nevs = 1;
    return PW_OK;
}

typedef enum pw_err (*change_rule)(struct pw_post *post, const struct pw_cmd *cmd,
                                   struct pw_errbuf *err);

/* UpdatePost and DeletePost: the same steps around a different rule. */
static enum pw_err handle_change(struct pw_repo *repo, const struct pw_cmd *cmd, change_rule rule,
                                 enum pw_event_type type, struct pw_event *ev, size_t *nevs,
                                 struct pw_errbuf *err)
{
    struct pw_post post = {0};
    bool found;
    *nevs = 0;
    enum pw_err rc = validate_and_load(repo, cmd, &post, &found, err);
    if (rc)
        return rc;
    rc = rule(found ? &post : NULL, cmd, err);
    if (rc == PW_OK)
        rc = pw_repo_save(repo, &post, err);
    if (rc) {
        pw_post_release(&post);
        return rc;
    }
    pw_event_init(ev, type, 0, &cmd->env, &post);
    *nevs = 1;
    return PW_OK;
}

static enum pw_err handle_update(struct pw_repo *repo, const struct pw_cmd *cmd,
                                 struct pw_event evs[PW_CMD_MAX_EVENTS], size_t *nevs,
                                 struct pw_errbuf *err)
{
    return handle_change(repo, cmd, pw_post_update, PW_EVENT_POST_UPDATED, &evs[0], nevs, err);
}

static enum pw_err handle_delete(struct pw_repo *repo, const struct pw_cmd *cmd,
                                 struct pw_event evs[PW_CMD_MAX_EVENTS], size_t *nevs,
                                 struct pw_errbuf *err)
{
    return handle_change(repo, cmd, pw_post_delete, PW_EVENT_POST_DELETED, &evs[0], nevs, err);
}

void pw_posts_register(struct pw_registry *reg)
{
    pw_registry_add(reg, PW_CMD_CREATE_POST, handle_create);
    pw_registry_add(reg, PW_CMD_UPDATE_POST, handle_update);
    pw_registry_add(reg, PW_CMD_DELETE_POST, handle_delete);
}

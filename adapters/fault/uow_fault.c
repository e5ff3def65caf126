/*
 * The fault-injecting unit of work. Repository calls count too: the wrapper
 * hands out a repository of its own that goes through the same counter.
 * rollback and close never fail, as their contract says.
 */
#include "adapters/fault/fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


struct fault_uow {
    struct pw_uow *inner;
    struct pw_fault *plan;
    struct pw_repo inner_repo;
    bool poisoned; /* this transaction asked about plan->poison_id */
    enum pw_err poison_code; /* what its commit fails with */
    /* A commit sent without waiting (emulated: see commit_send), and whether it was lost. */
    bool sent, lost;
};


static enum pw_err fault_repo_get(void *self, const char *post_id, struct pw_post *post,
                                  struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_repo_get(&f->inner_repo, post_id, post, err);
}

static enum pw_err fault_repo_add(void *self, const struct pw_post *post, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_repo_add(&f->inner_repo, post, err);
}

static enum pw_err fault_repo_save(void *self, const struct pw_post *post, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_repo_save(&f->inner_repo, post, err);
}

static const struct pw_repo_ops fault_repo_ops = {
    .name = "fault",
    .get = fault_repo_get,
    .add = fault_repo_add,
    .save = fault_repo_save,
};

static enum pw_err fault_uow_settle(void *self, struct pw_errbuf *err);

static enum pw_err fault_uow_begin(void *self, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc = fault_uow_settle(self, err);
    if (rc)
        return rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    f->poisoned = false;
    rc = pw_uow_begin(f->inner, err);
    f->plan->begins += rc == PW_OK;
    if (!rc)
        f->inner_repo = pw_uow_posts(f->inner);
    return rc;
}

/*
 * commit and commit_send: commit's faults (under its name), then the
 * inner's commit or commit_send, or commit_send's emulation over an inner
 * that always waits (the in-memory one): the commit lands now, as a
 * server's would once sent, or, when a fault hits fault_uow_settle, never
 * (a connection lost on the way); the next settle tells which.
 */
static enum pw_err fault_uow_end(struct fault_uow *f, bool send, struct pw_errbuf *err)
{
    enum pw_err rc;
    if (pw_fault_hit_at(f->plan, "fault_uow_commit", send ? "send" : NULL, err, &rc)) {
        /* A failed commit ends the transaction, as the port says. */
        pw_uow_rollback(f->inner);
        return rc;
    }
    if (f->poisoned) {
        pw_uow_rollback(f->inner);
        f->plan->failures++;
        return pw_err_set(err, f->poison_code, "injected: a command fails its transaction");
    }
    if (!send || f->inner->ops->commit_send) {
        rc = send ? pw_uow_commit_send(f->inner, err) : pw_uow_commit(f->inner, err);
        f->plan->commits += rc == PW_OK;
        return rc;
    }
    f->lost = pw_fault_hit_at(f->plan, "fault_uow_settle", NULL, err, &rc);
    if (f->lost) {
        pw_uow_rollback(f->inner);
        if (f->plan->dead)
            return rc; /* the process dies here, its commit lost */
    } else if ((rc = pw_uow_commit(f->inner, err)) != PW_OK) {
        return rc; /* failed before it was on its way: as commit's failure */
    }
    f->plan->commits += !f->lost;
    f->sent = true;
    return PW_OK;
}

static enum pw_err fault_uow_commit(void *self, struct pw_errbuf *err)
{
    return fault_uow_end(self, false, err);
}

static enum pw_err fault_uow_commit_send(void *self, struct pw_errbuf *err)
{
    return fault_uow_end(self, true, err);
}

static enum pw_err fault_uow_settle(void *self, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    if (!f->sent)
        return pw_uow_settle(f->inner, err);
    f->sent = false;
    if (f->lost)
        return pw_err_set(err, PW_E_LOST_COMMITS, "injected: a commit sent without waiting was lost");
    return PW_OK;
}

static void fault_uow_rollback(void *self)
{
    struct fault_uow *f = self;
    pw_uow_rollback(f->inner);
}

static struct pw_repo fault_uow_posts(void *self)
{
    return (struct pw_repo){.ops = &fault_repo_ops, .self = self};
}

static enum pw_err fault_uow_inbox_get(void *self, const char *source, const char *id, bool *found,
                                       enum pw_err *outcome, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (f->plan->kill_id && strcmp(f->plan->kill_id, id) == 0)
        raise(SIGKILL);
    while (f->plan->hang_id && strcmp(f->plan->hang_id, id) == 0)
        pause();
    if (f->plan->fail_id && strcmp(f->plan->fail_id, id) == 0 && !f->plan->failures++)
        return pw_err_set(err, PW_E_TRANSIENT, "injected fault on command '%s'", id);
    if (f->plan->poison_id && strcmp(f->plan->poison_id, id) == 0) {
        if (f->plan->poison_code == PW_E_FATAL) {
            f->plan->dead = true;
            f->plan->failures++;
            return pw_err_set(err, PW_E_FATAL, "injected: command '%s' kills the process", id);
        }
        f->poisoned = true;
        f->poison_code = f->plan->poison_code;
    }
    if (pw_fault_hit_at(f->plan, __func__, id, err, &rc)) {
        if (rc != PW_E_APPLY_FAILED && rc != PW_E_INTERRUPTED)
            return rc;
        f->poisoned = true; /* the store refuses it: at the commit */
        f->poison_code = rc;
    }
    return pw_uow_inbox_get(f->inner, source, id, found, outcome, err);
}

static enum pw_err fault_uow_inbox_put(void *self, const char *source, const char *id,
                                       enum pw_err outcome, const char *post_id, int64_t version,
                                       struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_inbox_put(f->inner, source, id, outcome, post_id, version, err);
}

static enum pw_err fault_uow_outbox_put(void *self, const char *topic, struct pw_event *ev,
                                        struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_outbox_put(f->inner, topic, ev, err);
}

static enum pw_err fault_uow_dead_letter_put(void *self, const char *topic,
                                             const struct pw_dead_letter *dl,
                                             struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_dead_letter_put(f->inner, topic, dl, err);
}

static enum pw_err fault_uow_offset_put(void *self, const char *group, const char *topic,
                                        int32_t partition, int64_t offset, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_offset_put(f->inner, group, topic, partition, offset, err);
}

static enum pw_err fault_uow_parked_get(void *self, const char *post_id, struct pw_parked *p,
                                        bool *found, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_parked_get(f->inner, post_id, p, found, err);
}

static enum pw_err fault_uow_park(void *self, const struct pw_parked *p, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_park(f->inner, p, err);
}

static enum pw_err fault_uow_unpark(void *self, const char *post_id, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_unpark(f->inner, post_id, err);
}

static enum pw_err fault_uow_hold(void *self, const char *post_id, const char *source,
                                  const char *id, const struct pw_origin *o, unsigned deaths,
                                  struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_hold(f->inner, post_id, source, id, o, deaths, err);
}

static enum pw_err fault_uow_held_get(void *self, const char *source, const char *id,
                                      bool *found, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_held_get(f->inner, source, id, found, err);
}

static enum pw_err fault_uow_held_done(void *self, uint64_t seq, struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_held_done(f->inner, seq, err);
}

static enum pw_err fault_uow_prefetch(void *self, const struct pw_cmd *const *cmds, size_t n,
                                      struct pw_errbuf *err)
{
    struct fault_uow *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_uow_prefetch(f->inner, cmds, n, err);
}

static void fault_uow_close(void *self)
{
    free(self);
}

static const struct pw_uow_ops fault_uow_ops = {
    .name = "fault",
    .begin = fault_uow_begin,
    .commit = fault_uow_commit,
    .commit_send = fault_uow_commit_send,
    .settle = fault_uow_settle,
    .rollback = fault_uow_rollback,
    .posts = fault_uow_posts,
    .inbox_get = fault_uow_inbox_get,
    .inbox_put = fault_uow_inbox_put,
    .outbox_put = fault_uow_outbox_put,
    .dead_letter_put = fault_uow_dead_letter_put,
    .offset_put = fault_uow_offset_put,
    .parked_get = fault_uow_parked_get,
    .park = fault_uow_park,
    .unpark = fault_uow_unpark,
    .hold = fault_uow_hold,
    .held_get = fault_uow_held_get,
    .held_done = fault_uow_held_done,
    .prefetch = fault_uow_prefetch,
    .close = fault_uow_close,
};

enum pw_err pw_fault_uow_open(struct pw_uow *uow, struct pw_uow *inner, struct pw_fault *plan)
{
    struct fault_uow *f = calloc(1, sizeof *f);
    if (!f)
        return PW_E_NOMEM;
    f->inner = inner;
    f->plan = plan;
    uow->ops = &fault_uow_ops;
    uow->self = f;
    return PW_OK;
}

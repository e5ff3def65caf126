/*
 * The invariants, checked after a run against a model of the commands: the
 * domain's own rules applied to each post's commands in log order, where a
 * command the store refuses, or one given up after max_attempts deaths,
 * parks its post and is skipped, and a command seen before is a duplicate.
 *
 * - The posts in the store equal the model's.
 * - Every applied command has its event published at least once, with one
 *   id, and no event was published that the model does not have (one
 *   published before its transaction committed, say).
 * - A post's events are first published in version order.
 * - Every expected dead letter was published; none for a healthy command.
 * - A message is given up (max_attempts) only after that many deaths of
 *   processes that ran it alone, and a killer after no more than that.
 * - (During the run) the group's offsets never move back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

#define SIM_MAX_POSTS 8

struct model_event {
    int64_t version;
    enum pw_event_type type;
    char title[24];
    int cmd;
    size_t delivered;
};

struct model_post {
    bool exists;
    struct pw_post post;
    struct model_event *ev;
    size_t nev;
    int64_t first_published; /* the last version first published */
    char id[64][PW_EVENT_ID_LEN + 1]; /* the event id of each version */
};

struct model {
    struct model_post posts[SIM_MAX_POSTS];
    enum pw_err *want[SIM_MAX_PARTS];  /* per message: the dead letter it must have, PW_OK none */
    size_t *dls[SIM_MAX_PARTS];        /* per message: dead letters published */
    unsigned char *given_up[SIM_MAX_PARTS];
    unsigned char *parked[SIM_MAX_PARTS]; /* its dead letter parked its post */
};

static int post_index(const char *id)
{
    return id[0] == 'p' ? atoi(id + 1) : -1;
}

/* The published dead letters, by message; and which were given up. */
static void count_dead_letters(struct sim_world *w, struct model *m)
{
    for (size_t i = 0; i < w->ndelivered; i++) {
        const struct sim_out *o = &w->delivered[i];
        if (o->kind != PW_OUT_DEAD_LETTER)
            continue;
        if (o->partition < 0 || o->partition >= (int32_t)w->cfg.parts || o->offset < 0 ||
            o->offset >= (int64_t)w->parts[o->partition].n) {
            sim_violation(w, "a dead letter for a message not in the log: partition %d offset %lld",
                          (int)o->partition, (long long)o->offset);
            return;
        }
        m->dls[o->partition][o->offset]++;
        if (o->code == PW_E_MAX_ATTEMPTS)
            m->given_up[o->partition][o->offset] = 1;
        if (o->parked)
            m->parked[o->partition][o->offset] = 1;
    }
}

static void expect_event(struct model_post *mp, enum pw_event_type type, int cmd)
{
    struct model_event *e = &mp->ev[mp->nev++];
    *e = (struct model_event){.version = mp->post.version, .type = type, .cmd = cmd};
    snprintf(e->title, sizeof e->title, "%s", mp->post.title ? mp->post.title : "");
}

/* One command through the domain, as the application would apply it. */
static enum pw_err model_apply(struct model_post *mp, const struct sim_cmd *c, int k)
{
    struct pw_cmd cmd;
    struct pw_errbuf err;
    sim_cmd_build(c, k, &cmd);
    enum pw_err rc;
    if (c->type == PW_CMD_CREATE_POST) {
        struct pw_post post;
        rc = pw_post_create(mp->exists, &cmd, &post, &err);
        if (!rc) {
            mp->post = post;
            mp->exists = true;
            expect_event(mp, PW_EVENT_POST_CREATED, k);
        }
        return rc;
    }
    bool update = c->type == PW_CMD_UPDATE_POST;
    struct pw_post *post = mp->exists ? &mp->post : NULL;
    rc = update ? pw_post_update(post, &cmd, &err) : pw_post_delete(post, &cmd, &err);
    if (!rc)
        expect_event(mp, update ? PW_EVENT_POST_UPDATED : PW_EVENT_POST_DELETED, k);
    return rc;
}

/* Would the domain apply c now? Its rule's code if not; the post is left as it is. */
static enum pw_err model_try(const struct model_post *mp, const struct sim_cmd *c, int k)
{
    struct pw_cmd cmd;
    struct pw_errbuf err;
    struct pw_post copy;
    sim_cmd_build(c, k, &cmd);
    if (c->type == PW_CMD_CREATE_POST) {
        enum pw_err rc = pw_post_create(mp->exists, &cmd, &copy, &err);
        if (!rc)
            pw_post_release(&copy);
        return rc;
    }
    if (!mp->exists)
        return PW_E_NOT_FOUND;
    if (pw_post_copy(&copy, &mp->post))
        abort();
    enum pw_err rc = c->type == PW_CMD_UPDATE_POST ? pw_post_update(&copy, &cmd, &err)
                                                   : pw_post_delete(&copy, &cmd, &err);
    pw_post_release(&copy);
    return rc;
}

/* A message of the log, by place. */
struct model_msg {
    unsigned q;
    size_t i;
};

enum model_ran { RAN_OK, RAN_FAILED };

/* Parking as the model sees it: what a post waits on, and its held messages in order. */
struct model_park {
    bool parked;
    struct model_msg failed; /* the message it waits on */
    struct model_msg queue[64];
    size_t nq;
};

struct model_ctx {
    struct sim_world *w;
    struct model *m;
    unsigned char *processed; /* per command: applied or rejected (a duplicate does nothing) */
    struct model_msg *held_at; /* per command: the message of it the model held first */
    unsigned char *was_held;
    struct model_park parks[SIM_MAX_POSTS];
};

static int post_of_msg(const struct sim_world *w, const struct sim_msg *msg)
{
    return msg->cmd >= 0 ? post_index(w->cmds[msg->cmd].post_id) : post_index(msg->key);
}

/* The message the post waits on, sent again: a decoded one by id, an undecoded one by bytes. */
static bool is_failed_again(struct model_ctx *x, const struct model_park *pk,
                            const struct sim_msg *msg)
{
    const struct sim_msg *f = &x->w->parts[pk->failed.q].msgs[pk->failed.i];
    if (!x->m->given_up[pk->failed.q][pk->failed.i] && f->cmd >= 0) /* refused: decoded */
        return msg->cmd == f->cmd;
    return msg->len == f->len && memcmp(msg->value, f->value, f->len) == 0;
}

static void model_drain(struct model_ctx *x, int p);

/* One message run to its outcome, as the application would run it. */
static enum model_ran model_one(struct model_ctx *x, struct model_msg at, bool held)
{
    struct sim_world *w = x->w;
    struct model *m = x->m;
    const struct sim_msg *msg = &w->parts[at.q].msgs[at.i];
    const struct sim_cmd *c = msg->cmd < 0 ? NULL : &w->cmds[msg->cmd];
    int p = post_of_msg(w, msg);
    struct model_park *pk = p >= 0 && p < SIM_MAX_POSTS ? &x->parks[p] : NULL;
    unsigned max = w->cfg.max_attempts, deaths = msg->random_deaths + msg->killer_deaths;
    bool again = false;
    if (pk && pk->parked && !held && m->given_up[at.q][at.i] && !m->parked[at.q][at.i] &&
        !is_failed_again(x, pk, msg)) {
        /* Given up before it could be held: dead-lettered; the post still waits on the first. */
        if (deaths < max)
            sim_violation(w, "%s (partition %u offset %zu) was given up after %u deaths alone, "
                          "max_attempts %u", c ? c->id : "garbage", at.q, at.i, deaths, max);
        m->want[at.q][at.i] = PW_E_MAX_ATTEMPTS;
        return RAN_FAILED;
    }
    /*
     * A copy of a held command, read by the worker while it was held: a
     * duplicate ("held already"), whatever became of the held one later.
     * The worker drains a post after the batch that resolved it, and its
     * drain may take many tries, while the model drains at once: without
     * this, a copy read before a drain that gave the held one up would be
     * taken for it sent again. Only then: the post parked behind the held
     * one (its first copy the model held), and this a later copy.
     */
    if (c && !held && msg->read_while_held && x->was_held[msg->cmd] && pk && pk->parked &&
        pk->failed.q == x->held_at[msg->cmd].q && pk->failed.i == x->held_at[msg->cmd].i &&
        (at.q != pk->failed.q || at.i != pk->failed.i))
        return RAN_OK;
    if (c && pk && pk->parked && !held) {
        again = is_failed_again(x, pk, msg);
        if (!again) { /* held behind it, once */
            for (size_t k = 0; k < pk->nq; k++)
                if (w->parts[pk->queue[k].q].msgs[pk->queue[k].i].cmd == msg->cmd)
                    return RAN_OK;
            if (pk->nq < 64)
                pk->queue[pk->nq++] = at;
            if (!x->was_held[msg->cmd]) {
                x->was_held[msg->cmd] = 1;
                x->held_at[msg->cmd] = at;
            }
            return RAN_OK;
        }
    }
    enum pw_err rule = c && c->fate != SIM_HEALTHY && !x->processed[msg->cmd]
                           ? model_try(&m->posts[p], c, msg->cmd)
                           : PW_OK;
    if (rule && !m->given_up[at.q][at.i]) { /* the domain refuses it first: its fate never acts */
        m->want[at.q][at.i] = rule;
        x->processed[msg->cmd] = 1;
        if (again) {
            pk->parked = false;
            model_drain(x, p);
        }
        return RAN_OK;
    }
    if ((c && c->fate == SIM_KILLER && !x->processed[msg->cmd]) || m->given_up[at.q][at.i]) {
        if (deaths < max || msg->killer_deaths > max)
            sim_violation(w, "%s (partition %u offset %zu) was %sgiven up after %u deaths alone "
                          "(%u by itself), max_attempts %u", c ? c->id : "garbage", at.q, at.i,
                          m->given_up[at.q][at.i] ? "" : "not ", deaths, msg->killer_deaths,
                          max);
        m->want[at.q][at.i] = PW_E_MAX_ATTEMPTS;
    } else if (!c) {
        m->want[at.q][at.i] = PW_E_INVALID_JSON; /* any malformed code */
        return RAN_OK;
    } else if (c->fate == SIM_REFUSED && !x->processed[msg->cmd]) {
        m->want[at.q][at.i] = PW_E_APPLY_FAILED;
    } else {
        if (!x->processed[msg->cmd]) {
            m->want[at.q][at.i] = model_apply(&m->posts[p], c, msg->cmd);
            x->processed[msg->cmd] = 1;
        }
        if (again) { /* what it waited on is done: the held ones run now */
            pk->parked = false;
            model_drain(x, p);
        }
        return RAN_OK;
    }
    if (pk) { /* a failed message parks its post */
        pk->parked = true;
        pk->failed = at;
    }
    return RAN_FAILED;
}

static void model_drain(struct model_ctx *x, int p)
{
    struct model_park *pk = &x->parks[p];
    while (!pk->parked && pk->nq) {
        struct model_msg at = pk->queue[0];
        memmove(pk->queue, pk->queue + 1, --pk->nq * sizeof *pk->queue);
        model_one(x, at, true);
    }
}

/*
 * Each partition in log order: what each message must come to. The run
 * releases parked posts only once everything else is done, and so does the
 * model, after the log.
 */
static void model_run(struct sim_world *w, struct model *m)
{
    struct model_ctx x = {.w = w, .m = m, .processed = calloc(w->ncmds + 1, 1),
                          .held_at = calloc(w->ncmds + 1, sizeof *x.held_at),
                          .was_held = calloc(w->ncmds + 1, 1)};
    if (!x.processed || !x.held_at || !x.was_held)
        abort();
    for (unsigned q = 0; q < w->cfg.parts && !w->violation[0]; q++)
        for (size_t i = 0; i < w->parts[q].n; i++)
            model_one(&x, (struct model_msg){q, i}, false);
    for (bool more = true; more && !w->violation[0];) {
        more = false;
        for (int p = 0; p < SIM_MAX_POSTS; p++) {
            struct model_park *pk = &x.parks[p];
            if (!pk->parked)
                continue;
            const struct sim_msg *f = &w->parts[pk->failed.q].msgs[pk->failed.i];
            if (!m->given_up[pk->failed.q][pk->failed.i] && f->cmd >= 0)
                x.processed[f->cmd] = 1; /* released: marked with its failure */
            pk->parked = false;
            model_drain(&x, p);
            more = true;
        }
    }
    free(x.processed);
    free(x.held_at);
    free(x.was_held);
}

static void check_events(struct sim_world *w, struct model *m)
{
    for (size_t i = 0; i < w->ndelivered && !w->violation[0]; i++) {
        const struct sim_out *o = &w->delivered[i];
        if (o->kind != PW_OUT_EVENT)
            continue;
        int p = post_index(o->post_id);
        struct model_post *mp = p >= 0 && p < SIM_MAX_POSTS ? &m->posts[p] : NULL;
        struct model_event *e = NULL;
        for (size_t k = 0; mp && k < mp->nev; k++)
            if (mp->ev[k].version == o->version)
                e = &mp->ev[k];
        if (!e || e->type != o->type || strcmp(e->title, o->title) != 0 ||
            strcmp(w->cmds[e->cmd].id, o->cause) != 0) {
            sim_violation(w, "an event no applied command explains: %s '%s' version %lld, title "
                          "'%s', from command %s", pw_event_type_name(o->type), o->post_id,
                          (long long)o->version, o->title, o->cause);
            return;
        }
        size_t v = (size_t)e->version;
        if (v < 64 && mp->id[v][0] && strcmp(mp->id[v], o->event_id) != 0)
            sim_violation(w, "post '%s' version %lld was published under two event ids",
                          o->post_id, (long long)o->version);
        if (v < 64)
            memcpy(mp->id[v], o->event_id, sizeof mp->id[v]);
        if (!e->delivered++ && e->version != mp->first_published + 1)
            sim_violation(w, "post '%s': version %lld first published after version %lld",
                          o->post_id, (long long)e->version, (long long)mp->first_published);
        if (e->delivered == 1)
            mp->first_published = e->version;
    }
    for (unsigned p = 0; p < w->cfg.posts && !w->violation[0]; p++)
        for (size_t k = 0; k < m->posts[p].nev; k++)
            if (!m->posts[p].ev[k].delivered) {
                sim_violation(w, "lost: the event of command %s (post 'p%u' version %lld) was "
                              "never published", w->cmds[m->posts[p].ev[k].cmd].id, p,
                              (long long)m->posts[p].ev[k].version);
                break;
            }
}

static void check_dead_letters(struct sim_world *w, struct model *m)
{
    for (size_t i = 0; i < w->ndelivered && !w->violation[0]; i++) {
        const struct sim_out *o = &w->delivered[i];
        if (o->kind != PW_OUT_DEAD_LETTER)
            continue;
        enum pw_err want = m->want[o->partition][o->offset];
        bool ok = want == PW_E_INVALID_JSON ? pw_err_kind(o->code) == PW_KIND_MALFORMED
                                              : want != PW_OK && o->code == want;
        int k = w->parts[o->partition].msgs[o->offset].cmd;
        if (!ok)
            sim_violation(w, "dead letter %s for %s (partition %d offset %lld), which should "
                          "have been %s", pw_err_name(o->code), k >= 0 ? w->cmds[k].id : "garbage",
                          (int)o->partition, (long long)o->offset,
                          want == PW_OK ? "applied, or a duplicate" : pw_err_name(want));
    }
    for (unsigned q = 0; q < w->cfg.parts && !w->violation[0]; q++)
        for (size_t i = 0; i < w->parts[q].n; i++)
            if (m->want[q][i] != PW_OK && !m->dls[q][i]) {
                sim_violation(w, "lost: the dead letter (%s) of partition %u offset %zu was "
                              "never published", pw_err_name(m->want[q][i]), q, i);
                break;
            }
}

/* The posts in the store against the model's. */
static void check_posts(struct sim_world *w, struct model *m)
{
    struct pw_uow uow;
    struct pw_errbuf err;
    if (pw_inmem_uow_open(&uow, w->store) || pw_uow_begin(&uow, &err))
        abort();
    struct pw_repo repo = pw_uow_posts(&uow);
    for (unsigned p = 0; p < w->cfg.posts && !w->violation[0]; p++) {
        const struct model_post *mp = &m->posts[p];
        char id[16];
        snprintf(id, sizeof id, "p%u", p);
        struct pw_post got;
        enum pw_err rc = pw_repo_get(&repo, id, &got, &err);
        if (rc != PW_OK && rc != PW_E_NOT_FOUND)
            abort();
        bool has = rc == PW_OK;
        if (has != mp->exists || (has && (got.version != mp->post.version ||
                                          strcmp(got.title, mp->post.title) != 0 ||
                                          pw_post_is_deleted(&got) !=
                                              pw_post_is_deleted(&mp->post))))
            sim_violation(w, "post '%s' is %s version %lld '%s'%s in the store, and %s version "
                          "%lld '%s'%s in the model", id, has ? "at" : "missing,",
                          has ? (long long)got.version : 0LL, has ? got.title : "",
                          has && pw_post_is_deleted(&got) ? " (deleted)" : "",
                          mp->exists ? "at" : "missing,", (long long)mp->post.version,
                          mp->exists ? mp->post.title : "",
                          mp->exists && pw_post_is_deleted(&mp->post) ? " (deleted)" : "");
        if (has)
            pw_post_release(&got);
    }
    pw_uow_rollback(&uow);
    pw_uow_close(&uow);
}

void sim_check(struct sim_world *w)
{
    struct model m;
    memset(&m, 0, sizeof m);
    for (unsigned p = 0; p < SIM_MAX_POSTS; p++)
        m.posts[p].ev = calloc(16, sizeof *m.posts[p].ev);
    for (unsigned q = 0; q < w->cfg.parts; q++) {
        size_t n = w->parts[q].n + 1;
        m.want[q] = calloc(n, sizeof *m.want[q]);
        m.dls[q] = calloc(n, sizeof *m.dls[q]);
        m.given_up[q] = calloc(n, 1);
        m.parked[q] = calloc(n, 1);
    }
    count_dead_letters(w, &m);
    if (!w->violation[0])
        model_run(w, &m);
    for (unsigned p = 0; p < w->cfg.posts && w->trace; p++)
        for (size_t k = 0; k < m.posts[p].nev; k++)
            sim_trace(w, "model: post 'p%u' version %lld by %s", p,
                      (long long)m.posts[p].ev[k].version, w->cmds[m.posts[p].ev[k].cmd].id);
    if (!w->violation[0])
        check_events(w, &m);
    if (!w->violation[0])
        check_dead_letters(w, &m);
    if (!w->violation[0])
        check_posts(w, &m);
    for (unsigned p = 0; p < SIM_MAX_POSTS; p++) {
        pw_post_release(&m.posts[p].post);
        free(m.posts[p].ev);
    }
    for (unsigned q = 0; q < w->cfg.parts; q++) {
        free(m.want[q]);
        free(m.dls[q]);
        free(m.given_up[q]);
        free(m.parked[q]);
    }
}

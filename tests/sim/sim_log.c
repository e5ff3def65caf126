/*
 * The simulated log and consumer group, and the source port on them. The
 * group rebalances eagerly: a new generation makes every member revoke all
 * it owns at its next fetch, and a partition goes to its new owner only
 * once its old one has let it go (revoked it, left, or been evicted for not
 * polling within SIM_SESSION_MS: a crashed or paused process). A member
 * evicted while paused learns at its next fetch that its partitions were
 * lost, and its commits for them fail meanwhile, as on Kafka.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/batch_kafka.h"
#include "tests/sim/sim.h"

void sim_log_append(struct sim_world *w, int cmd, const char *key, char *value, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a of the key: the partitioner */
    for (const char *c = key; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    struct sim_part *p = &w->parts[h % w->cfg.parts];
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->msgs = realloc(p->msgs, p->cap * sizeof *p->msgs);
        if (!p->msgs)
            abort();
    }
    struct sim_msg *m = &p->msgs[p->n++];
    *m = (struct sim_msg){.cmd = cmd, .value = value, .len = len, .timestamp_ms = w->now_ms};
    snprintf(m->key, sizeof m->key, "%s", key);
    sim_trace(w, "producer: partition %d offset %zu: %s%s for post '%s'%s", (int)(p - w->parts),
              p->n - 1, cmd < 0 ? "garbage" : w->cmds[cmd].id,
              cmd < 0 ? "" : w->cmds[cmd].fate == SIM_KILLER ? " (a killer)"
                             : w->cmds[cmd].fate == SIM_REFUSED ? " (refused by the store)" : "",
              key, "");
}

int sim_group_join(struct sim_world *w)
{
    if (w->nmembers == w->cap_members) {
        w->cap_members = w->cap_members ? 2 * w->cap_members : 8;
        w->members = realloc(w->members, w->cap_members * sizeof *w->members);
        if (!w->members)
            abort();
    }
    int id = (int)w->nmembers++;
    w->members[id] = (struct sim_member){.live = true, .gen = ++w->gen, .last_poll_ms = w->now_ms};
    return id;
}

/* Lets the member's partitions go: they are free for their next owner. */
static void group_release(struct sim_world *w, int member)
{
    for (unsigned q = 0; q < w->cfg.parts; q++)
        if (w->parts[q].owner == member)
            w->parts[q].owner = -1;
}

void sim_group_leave(struct sim_world *w, int member)
{
    struct sim_member *m = &w->members[member];
    if (!m->live)
        return;
    group_release(w, member);
    m->live = false;
    w->gen++;
}

void sim_group_tick(struct sim_world *w)
{
    for (size_t i = 0; i < w->nmembers; i++) {
        struct sim_member *m = &w->members[i];
        if (m->live && w->now_ms - m->last_poll_ms > SIM_SESSION_MS) {
            sim_trace(w, "group: member %zu evicted (no poll for %lld ms)", i,
                      (long long)(w->now_ms - m->last_poll_ms));
            sim_group_leave(w, (int)i);
        }
    }
}

/* The member that should own partition q: the live ones in order, round robin. */
static int group_target(const struct sim_world *w, unsigned q)
{
    int live[64], k = 0;
    for (size_t i = 0; i < w->nmembers && k < 64; i++)
        if (w->members[i].live)
            live[k++] = (int)i;
    return k ? live[q % (unsigned)k] : -1;
}

struct sim_src {
    struct sim_proc *p;
    struct pw_source_listener l;
    struct pw_input *in;
    size_t n, cap;
    bool revoking; /* in the revocation's listener: its commits still count */
};

static void src_listen(void *self, const struct pw_source_listener *l)
{
    struct sim_src *s = self;
    s->l = *l;
}

/* Revokes all the member believes it owns; lost: the group took them already. */
static void src_revoke(struct sim_src *s, bool lost)
{
    struct sim_world *w = s->p->w;
    struct sim_member *m = &w->members[s->p->member];
    struct pw_partition v[SIM_MAX_PARTS];
    size_t n = 0;
    for (unsigned q = 0; q < w->cfg.parts; q++)
        if (m->mine[q])
            v[n++] = (struct pw_partition){.topic = SIM_TOPIC, .partition = (int32_t)q, .start = -1};
    if (!n)
        return;
    w->stats->rebalances++;
    sim_trace(w, "w%d: partitions %s (%zu)", s->p->slot, lost ? "lost" : "revoked", n);
    s->revoking = !lost;
    if (s->l.revoked)
        s->l.revoked(s->l.ctx, v, n, lost);
    s->revoking = false;
    m = &w->members[s->p->member];
    for (unsigned q = 0; q < w->cfg.parts; q++) {
        if (m->mine[q] && w->parts[q].owner == s->p->member)
            w->parts[q].owner = -1;
        m->mine[q] = false;
    }
}

/* Takes the free partitions the group means this member to own. */
static void src_assign(struct sim_src *s)
{
    struct sim_world *w = s->p->w;
    int me = s->p->member;
    struct pw_partition v[SIM_MAX_PARTS];
    size_t n = 0;
    for (unsigned q = 0; q < w->cfg.parts; q++)
        if (w->parts[q].owner == -1 && group_target(w, q) == me) {
            w->parts[q].owner = me;
            w->members[me].mine[q] = true;
            v[n++] = (struct pw_partition){.topic = SIM_TOPIC, .partition = (int32_t)q, .start = -1};
        }
    if (!n)
        return;
    if (s->l.assigned)
        s->l.assigned(s->l.ctx, v, n);
    for (size_t i = 0; i < n; i++) {
        const struct sim_part *part = &w->parts[v[i].partition];
        int64_t at = v[i].start >= 0 ? v[i].start : part->committed >= 0 ? part->committed : 0;
        w->members[me].pos[v[i].partition] = at;
        sim_trace(w, "w%d: assigned partition %d from offset %lld (stored %lld, committed %lld)",
                  s->p->slot, (int)v[i].partition, (long long)at, (long long)v[i].start,
                  (long long)part->committed);
    }
}

static enum pw_err src_fetch(void *self, size_t max, int linger_ms, struct pw_fetched *f,
                             struct pw_errbuf *err)
{
    (void)linger_ms;
    struct sim_src *s = self;
    struct sim_proc *p = s->p;
    struct sim_world *w = p->w;
    enum pw_err rc = sim_proc_call(p, "sim_source_fetch", err);
    if (rc)
        return rc;
    struct sim_member *m = &w->members[p->member];
    m->last_poll_ms = w->now_ms;
    if (!m->live) { /* evicted: what it had is another's now; it joins again */
        src_revoke(s, true);
        m = &w->members[p->member];
        m->live = true;
        m->gen = ++w->gen;
    } else if (m->gen != w->gen) {
        src_revoke(s, false);
        m = &w->members[p->member];
        m->gen = w->gen;
    }
    if (!p->plan.dead)
        src_assign(s);
    if (p->plan.dead) /* it died in the listener */
        return pw_err_set(err, PW_E_FATAL, "the process died in a rebalance");
    if (max > s->cap) {
        s->in = realloc(s->in, max * sizeof *s->in);
        if (!s->in)
            abort();
        s->cap = max;
    }
    m = &w->members[p->member];
    size_t want = 1 + sim_below(&w->rng, (unsigned)max);
    unsigned start = sim_below(&w->rng, w->cfg.parts);
    for (unsigned k = 0; k < w->cfg.parts && s->n < want; k++) {
        unsigned q = (start + k) % w->cfg.parts;
        const struct sim_part *part = &w->parts[q];
        if (!m->mine[q])
            continue;
        size_t take = 1 + sim_below(&w->rng, (unsigned)(want - s->n));
        while (take-- && m->pos[q] < (int64_t)part->n) {
            const struct sim_msg *msg = &part->msgs[m->pos[q]];
            struct pw_input *in = &s->in[s->n++];
            memset(in, 0, sizeof *in);
            in->origin = (struct pw_origin){
                .group = SIM_GROUP, .topic = SIM_TOPIC, .partition = (int32_t)q,
                .offset = m->pos[q], .timestamp_ms = msg->timestamp_ms,
                .key = msg->key, .key_len = strlen(msg->key),
                .value = msg->value, .value_len = msg->len};
            m->pos[q]++;
        }
    }
    if (!s->n)
        w->now_ms += 100; /* an idle poll waits */
    f->in = s->in;
    f->n = s->n;
    return PW_OK;
}

static void src_release(void *self)
{
    struct sim_src *s = self;
    for (size_t i = 0; i < s->n; i++)
        pw_cmd_release(&s->in[i].cmd);
    s->n = 0;
}

static enum pw_err src_commit(void *self, const struct pw_offset *offs, size_t n,
                              struct pw_errbuf *err)
{
    struct sim_src *s = self;
    struct sim_world *w = s->p->w;
    enum pw_err rc = sim_proc_call(s->p, "sim_source_commit", err);
    if (rc)
        return rc;
    const struct sim_member *m = &w->members[s->p->member];
    for (size_t i = 0; i < n; i++)
        if (!m->live || (m->gen != w->gen && !s->revoking) ||
            w->parts[offs[i].partition].owner != s->p->member)
            return pw_err_set(err, PW_E_TRANSIENT, "commit refused: partition %d is not ours now",
                              (int)offs[i].partition);
    for (size_t i = 0; i < n; i++) {
        struct sim_part *part = &w->parts[offs[i].partition];
        /*
         * The acknowledgement rule (ports/service.h): the group learns an
         * offset only once the store has it. A store that lost the commit
         * and has no offset of its own would start there, past the batch.
         */
        int64_t stored = -1;
        struct pw_errbuf serr;
        if (!pw_store_offset_get(&s->p->st_in, offs[i].group, offs[i].topic, offs[i].partition,
                                 &stored, &serr) &&
            offs[i].next > stored)
            sim_violation(w, "the group's offset of partition %d went to %lld, ahead of the "
                          "offset stored with the data (%lld)",
                          (int)offs[i].partition, (long long)offs[i].next, (long long)stored);
        if (offs[i].next < part->committed)
            sim_violation(w, "the group's offset of partition %d moved back from %lld to %lld",
                          (int)offs[i].partition, (long long)part->committed,
                          (long long)offs[i].next);
        part->committed = offs[i].next;
    }
    return PW_OK;
}

static void src_probe(void *self)
{
    (void)self;
}

static void src_close(void *self)
{
    struct sim_src *s = self;
    src_release(s);
    free(s->in);
    free(s);
}

static const struct pw_source_ops sim_source_ops = {
    .name = "sim",
    .listen = src_listen,
    .fetch = src_fetch,
    .release = src_release,
    .decode = kafka_batch_decode_one, /* the real codec: the log holds CloudEvents */
    .commit = src_commit,
    .probe = src_probe,
    .close = src_close,
};

enum pw_err sim_source_open(struct pw_source *src, struct sim_proc *p)
{
    struct sim_src *s = calloc(1, sizeof *s);
    if (!s)
        return PW_E_NOMEM;
    s->p = p;
    *src = (struct pw_source){.ops = &sim_source_ops, .self = s};
    return PW_OK;
}

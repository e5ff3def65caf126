/*
 * A simulated process: the real application and loop on the in-memory
 * store's handles, each behind a fault wrapper whose hook (sim_hook) the
 * world's PRNG drives. A crash marks the process dead: from that call on
 * every port call of it fails, nothing it does reaches the store, the log
 * or the bus, and the scheduler tears it down (its handles closed, as a
 * database closes a dead client's session) and later starts another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/uuid/ids_uuid.h"
#include "tests/sim/sim.h"

static int64_t clock_now(void *self)
{
    return ((struct sim_world *)self)->now_ms;
}

static bool clock_sleep(void *self, long ms, const volatile sig_atomic_t *stop)
{
    ((struct sim_world *)self)->now_ms += ms;
    return !(stop && *stop);
}

const struct pw_clock_ops sim_clock_ops = {
    .name = "sim",
    .now_ms = clock_now,
    .sleep_ms = clock_sleep,
};

/* Crash sites seen over every seed: the distinct calls a crash was injected at. */
static const char *crash_sites[128];
static unsigned ncrash_sites;

static void count_site(struct sim_world *w, const char *op)
{
    for (unsigned i = 0; i < ncrash_sites; i++)
        if (strcmp(crash_sites[i], op) == 0)
            return;
    if (ncrash_sites < 128)
        crash_sites[ncrash_sites++] = op;
    w->stats->crash_sites = ncrash_sites;
}

/* A commit since it was last looked at ends the run under way: its message is done. */
static void sync_commits(struct sim_proc *p)
{
    if (p->plan.commits != p->seen_commits && p->cur >= 0)
        p->opens[p->cur].open = false;
    p->seen_commits = p->plan.commits;
}

/* The runs alone left open become orphans; killed: the one its command killed. */
static void orphan_opens(struct sim_proc *p, const struct sim_open *killed)
{
    struct sim_world *w = p->w;
    for (int r = 0; r <= SIM_MAX_PARTS; r++) {
        struct sim_open *o = &p->opens[r];
        if (o->open && w->norphans < SIM_MAX_ORPHANS)
            w->orphans[w->norphans++] = (struct sim_orphan){o->part, o->off, o == killed};
        o->open = false;
    }
}

/*
 * The process dies at op. The runs alone it leaves unfinished are orphans,
 * each counted as a death of its message once another run starts there, as
 * the breaker counts them.
 */
static enum pw_err die(struct sim_proc *p, const char *op, bool killer, struct pw_errbuf *err)
{
    struct sim_world *w = p->w;
    sync_commits(p);
    p->plan.dead = true;
    w->stats->crashes++;
    count_site(w, op);
    const struct sim_open *now = p->cur >= 0 && p->opens[p->cur].open ? &p->opens[p->cur] : NULL;
    orphan_opens(p, killer ? now : NULL);
    if (now)
        sim_trace(w, "w%d: %s at %s, running partition %d offset %lld alone", p->slot,
                  killer ? "killed by its command" : "crash", op, (int)now->part,
                  (long long)now->off);
    else
        sim_trace(w, "w%d: %s at %s", p->slot, killer ? "killed by its command" : "crash", op);
    return pw_err_set(err, PW_E_FATAL, "sim: the process died at %s", op);
}

enum pw_err sim_proc_call(struct sim_proc *p, const char *op, struct pw_errbuf *err)
{
    struct sim_world *w = p->w;
    if (p->plan.dead)
        return pw_err_set(err, PW_E_FATAL, "sim: the process is dead");
    w->stats->calls++;
    w->now_ms += sim_below(&w->rng, 2);
    sim_note_commits(w);
    sync_commits(p);
    if (w->faulty && sim_chance(&w->rng, w->cfg.crash_ppm))
        return die(p, op, false, err);
    /* A source fails only for good (ports/source.h): no transient faults there. */
    if (w->faulty && strncmp(op, "sim_source_fetch", 16) != 0 &&
        sim_chance(&w->rng, w->cfg.transient_ppm)) {
        w->stats->faults++;
        return pw_err_set(err, PW_E_TRANSIENT, "sim: a transient fault at %s", op);
    }
    return PW_OK;
}

/* Every call of the store's wrappers: the command's fate first, then the world's faults. */
static enum pw_err sim_hook(void *ctx, struct pw_fault *plan, const char *op, const char *id,
                            struct pw_errbuf *err)
{
    (void)plan;
    struct sim_proc *p = ctx;
    struct sim_world *w = p->w;
    if (id && strcmp(op, "fault_uow_commit") != 0) /* the command being run: its fate acts when applied */
        p->asked = id[0] == 'c' ? (int)strtol(id + 1, NULL, 10) : -1;
    bool apply = strcmp(op, "fault_repo_add") == 0 || strcmp(op, "fault_repo_save") == 0;
    if (apply && p->asked >= 0 && (size_t)p->asked < w->ncmds) {
        if (w->cmds[p->asked].fate == SIM_KILLER)
            return die(p, op, true, err);
        if (w->cmds[p->asked].fate == SIM_REFUSED)
            return pw_err_set(err, PW_E_APPLY_FAILED, "sim: the store refuses command '%s'",
                              w->cmds[p->asked].id);
    }
    if (w->faulty && p->stop && strcmp(op, "fault_store_runs_end") == 0 &&
        p->end_refusals < w->cfg.stop_refusals) {
        p->end_refusals++;
        w->stats->faults++;
        return pw_err_set(err, PW_E_TRANSIENT, "sim: the store is away as the worker stops");
    }
    return sim_proc_call(p, op, err);
}

static void count_death(struct sim_world *w, int32_t part, int64_t off, bool killer)
{
    if (part < 0 || part >= (int32_t)w->cfg.parts || off < 0 || off >= (int64_t)w->parts[part].n)
        return;
    struct sim_msg *m = &w->parts[part].msgs[off];
    if (killer)
        m->killer_deaths++;
    else
        m->random_deaths++;
}

/*
 * A run starts at partition part, offset off (a held command: where it was
 * read): a run alone of that message that did not end (its process died,
 * or another still runs it: paused, its partitions lost) died, by the
 * breaker's rule.
 */
static void ledger_start(struct sim_proc *p, int32_t part, int64_t off)
{
    struct sim_world *w = p->w;
    for (size_t i = 0; i < w->norphans;) {
        const struct sim_orphan *o = &w->orphans[i];
        if (o->part == part && o->off == off) {
            count_death(w, part, off, o->killer);
            w->orphans[i] = w->orphans[--w->norphans];
        } else {
            i++;
        }
    }
    for (unsigned k = 0; k < w->cfg.workers; k++) {
        struct sim_proc *y = &w->procs[k];
        if (y == p || y->state == SIM_DOWN)
            continue;
        sync_commits(y);
        for (int r = 0; r <= SIM_MAX_PARTS; r++) {
            struct sim_open *o = &y->opens[r];
            if (!o->open || o->part != part || o->off != off)
                continue;
            sim_trace(w, "w%d: its run of partition %d offset %lld alone is started over by w%d",
                      y->slot, (int)part, (long long)off, p->slot);
            count_death(w, part, off, false);
            o->open = false;
        }
    }
}

/*
 * The store port seen by the application, to learn which message runs
 * alone: the breaker's view, which the checks hold it to.
 */
struct spy {
    struct sim_proc *p;
    struct pw_store *inner;
    int32_t held_part; /* the last held command handed out */
    int64_t held_off;
};

static enum pw_err spy_offset_get(void *self, const char *group, const char *topic,
                                  int32_t partition, int64_t *offset, struct pw_errbuf *err)
{
    struct spy *s = self;
    return pw_store_offset_get(s->inner, group, topic, partition, offset, err);
}

static enum pw_err spy_runs_start(void *self, struct pw_run_start *r, size_t n,
                                  struct pw_errbuf *err)
{
    struct spy *s = self;
    enum pw_err rc = pw_store_runs_start(s->inner, r, n, err);
    if (rc)
        return rc;
    struct sim_proc *p = s->p;
    bool recorded = false;
    sync_commits(p);
    for (size_t i = 0; i < n; i++) {
        /* The store leaves a run below the stored offset unrecorded: so does the ledger. */
        int64_t stored = -1;
        struct pw_errbuf e2;
        bool held = r[i].partition == PW_HELD_PARTITION;
        if (!held &&
            pw_store_offset_get(&p->st_in, r[i].group, r[i].topic, r[i].partition, &stored, &e2))
            stored = -1;
        if (!held && r[i].offset < stored)
            continue;
        recorded = true;
        ledger_start(p, held ? s->held_part : r[i].partition, held ? s->held_off : r[i].offset);
        /* The breaker counts no death that did not happen (a clean stop is none). */
        bool known = !held && r[i].partition >= 0 && r[i].partition < (int32_t)p->w->cfg.parts &&
                     r[i].offset >= 0 && r[i].offset < (int64_t)p->w->parts[r[i].partition].n;
        const struct sim_msg *m = known ? &p->w->parts[r[i].partition].msgs[r[i].offset] : NULL;
        if (m && r[i].deaths > m->random_deaths + m->killer_deaths)
            sim_violation(p->w, "the store counts %u deaths at partition %d offset %lld, "
                          "%u happened", r[i].deaths, (int)r[i].partition,
                          (long long)r[i].offset, m->random_deaths + m->killer_deaths);
    }
    bool held = r[0].partition == PW_HELD_PARTITION, alone = n == 1 && r[0].alone && recorded;
    p->cur = alone ? (held ? SIM_MAX_PARTS : r[0].partition) : -1;
    if (alone)
        p->opens[p->cur] = (struct sim_open){.open = true,
                                             .part = held ? s->held_part : r[0].partition,
                                             .off = held ? s->held_off : r[0].offset,
                                             .at = r[0].offset};
    sim_trace(p->w, "w%d: run of %zu from partition %d offset %lld%s: died %d, deaths %u [tok %llx ended %llx]",
              p->slot, n, (int)r[0].partition, (long long)r[0].offset,
              alone ? " alone" : "", r[0].died, r[0].deaths, (unsigned long long)r[0].token, (unsigned long long)r[0].ended);
    return PW_OK;
}

static enum pw_err spy_runs_end(void *self, const struct pw_run_start *r, size_t n,
                                struct pw_errbuf *err)
{
    struct spy *s = self;
    enum pw_err rc = pw_store_runs_end(s->inner, r, n, err);
    for (size_t i = 0; !rc && i < n; i++) { /* ended alive: no death for the next */
        int row = r[i].partition == PW_HELD_PARTITION ? SIM_MAX_PARTS : r[i].partition;
        if (row >= 0 && row <= SIM_MAX_PARTS && s->p->opens[row].at == r[i].offset)
            s->p->opens[row].open = false;
    }
    return rc;
}

static enum pw_err spy_held_next(void *self, struct pw_held *h, bool *found,
                                 struct pw_errbuf *err)
{
    struct spy *s = self;
    enum pw_err rc = pw_store_held_next(s->inner, h, found, err);
    if (!rc && *found) {
        s->held_part = h->origin.partition;
        s->held_off = h->origin.offset;
    }
    return rc;
}

static enum pw_err spy_parked_list(void *self, const char *after, struct pw_parked *out,
                                   size_t max, size_t *n, struct pw_errbuf *err)
{
    struct spy *s = self;
    return pw_store_parked_list(s->inner, after, out, max, n, err);
}

static enum pw_err spy_parking_stats(void *self, struct pw_parking_stats *st,
                                     struct pw_errbuf *err)
{
    struct spy *s = self;
    return pw_store_parking_stats(s->inner, st, err);
}

static enum pw_err spy_release(void *self, const char *post_id, bool dry_run, struct pw_parked *p,
                               bool *found, struct pw_errbuf *err)
{
    struct spy *s = self;
    return pw_store_release(s->inner, post_id, dry_run, p, found, err);
}

static void spy_close(void *self)
{
    free(self);
}

static enum pw_err spy_holds_nothing(void *self, bool *empty, struct pw_errbuf *err)
{
    struct spy *s = self;
    return pw_store_holds_nothing(s->inner, empty, err);
}

static enum pw_err spy_prune_inbox(void *self, int64_t older_ms, size_t max, size_t *pruned,
                                   struct pw_errbuf *err)
{
    struct spy *s = self;
    return pw_store_prune_inbox(s->inner, older_ms, max, pruned, err);
}

static const struct pw_store_ops spy_ops = {
    .name = "spy",
    .offset_get = spy_offset_get,
    .runs_start = spy_runs_start,
    .runs_end = spy_runs_end,
    .held_next = spy_held_next,
    .parked_list = spy_parked_list,
    .parking_stats = spy_parking_stats,
    .release = spy_release,
    .holds_nothing = spy_holds_nothing,
    .prune_inbox = spy_prune_inbox,
    .close = spy_close,
};

static void sim_loop_log(const char *level, const char *msg)
{
    extern struct sim_world *sim_logging;
    struct sim_world *w = sim_logging;
    if (w && w->trace)
        sim_trace(w, "w%d log %s: %s", w->current ? w->current->slot : -1, level, msg);
}

/* Joins the group with a new source and loop over the process's service. */
static void proc_join(struct sim_proc *p)
{
    struct sim_world *w = p->w;
    p->member = sim_group_join(w);
    if (sim_source_open(&p->src, p))
        abort();
    struct pw_loop_ports lports = {.source = &p->src, .svc = &p->svc, .clock = &w->clock};
    struct pw_loop_config lcfg = {.group = SIM_GROUP,
                                  .batch_size = w->cfg.batch, .batch_wait_ms = 5,
                                  .stop = &p->stop, .log = sim_loop_log};
    struct pw_errbuf err;
    if (pw_loop_open(&p->loop, &lports, &lcfg, &err))
        abort();
}

bool sim_proc_start(struct sim_proc *p)
{
    struct sim_world *w = p->w;
    p->incarnation++;
    w->incarnations++;
    memset(&p->plan, 0, sizeof p->plan);
    p->plan.hook = sim_hook;
    p->plan.hook_ctx = p;
    p->stop = 0;
    memset(p->opens, 0, sizeof p->opens);
    p->cur = -1;
    p->seen_commits = 0;
    p->asked = -1;
    struct spy *s = calloc(1, sizeof *s);
    if (!s || pw_inmem_uow_open(&p->uow_in, w->store) ||
        pw_fault_uow_open(&p->uow, &p->uow_in, &p->plan) ||
        pw_inmem_store_open(&p->st_in, w->store) ||
        pw_fault_store_open(&p->st_f, &p->st_in, &p->plan) ||
        pw_inmem_outbox_open(&p->ob_in, w->store) ||
        pw_fault_outbox_open(&p->ob, &p->ob_in, &p->plan) || sim_bus_open(&p->bus, p))
        abort(); /* out of memory: not a finding */
    *s = (struct spy){.p = p, .inner = &p->st_f, .held_part = -1};
    p->st = (struct pw_store){.ops = &spy_ops, .self = s};
    pw_uuid_ids_open(&p->ids);
    struct pw_app_ports ports = {.uow = &p->uow, .store = &p->st, .outbox = &p->ob,
                                 .bus = &p->bus, .ids = &p->ids};
    struct pw_app_config acfg = {.events_topic = "events",
                                 .dlq_topic = "dlq",
                                 .relay_batch = w->cfg.relay_batch,
                                 .drain_batch = 1 + sim_below(&w->rng, 4),
                                 .flush_timeout_ms = -1,
                                 .max_attempts = w->cfg.max_attempts,
                                 /* At random, as bootstrap draws it: tokens never collide. */
                                 .instance = sim_next(&w->rng) | 1};
    if (pw_app_open(&p->app, &ports, &acfg))
        abort();
    p->svc = pw_app_service(&p->app);
    proc_join(p);
    p->state = SIM_UP;
    sim_trace(w, "w%d: started (incarnation %u, member %d)", p->slot, p->incarnation, p->member);
    return true;
}

static void proc_teardown(struct sim_proc *p)
{
    pw_loop_close(p->loop);
    p->loop = NULL;
    pw_source_close(&p->src);
    pw_app_close(&p->app);
    pw_outbox_close(&p->ob);
    pw_outbox_close(&p->ob_in);
    pw_store_close(&p->st);
    pw_store_close(&p->st_f);
    pw_store_close(&p->st_in);
    pw_uow_close(&p->uow);
    pw_uow_close(&p->uow_in);
    pw_ids_close(&p->ids);
    sim_bus_drop(p);
    p->state = SIM_DOWN;
}

void sim_proc_crash(struct sim_proc *p, const char *why)
{
    struct sim_world *w = p->w;
    sim_trace(w, "w%d: down: %s", p->slot, why);
    proc_teardown(p); /* the member stays in the group until its session times out */
    p->until_ms = w->now_ms + 200 + sim_below(&w->rng, 3000);
}

/*
 * Lost commits: as bootstrap/worker.c, the same service leaves the group
 * and joins again with a new source and loop (the caller has finished it).
 */
void sim_proc_rejoin(struct sim_proc *p)
{
    struct sim_world *w = p->w;
    pw_loop_close(p->loop);
    p->loop = NULL;
    pw_source_close(&p->src);
    sim_group_leave(w, p->member);
    proc_join(p);
    sim_trace(w, "w%d: left the group and joined again (member %d)", p->slot, p->member);
}

void sim_proc_close(struct sim_proc *p)
{
    struct sim_world *w = p->w;
    sim_group_leave(w, p->member);
    sim_trace(w, "w%d: stopped cleanly, left the group", p->slot);
    proc_teardown(p);
    p->until_ms = w->now_ms + sim_below(&w->rng, 1000);
}

/*
 * A seed's world: its configuration and workload drawn from the seed, a
 * faulty phase where the scheduler interleaves the workers' steps with
 * producers, pauses, clean restarts, operators' releases and the faults of
 * the port calls, then a healing phase without faults that must bring
 * every command to its end. The checks (sim_check.c) follow.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/cloudevents.h"
#include "tests/sim/sim.h"

struct sim_world *sim_logging;
FILE *sim_trace_file;

void sim_trace(struct sim_world *w, const char *fmt, ...)
{
    if (!w->trace)
        return;
    FILE *out = sim_trace_file ? sim_trace_file : stdout;
    va_list ap;
    va_start(ap, fmt);
    fprintf(out, "%8lld ms  ", (long long)w->now_ms);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    va_end(ap);
}

void sim_violation(struct sim_world *w, const char *fmt, ...)
{
    w->stats->violations += !w->violation[0];
    if (w->violation[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->violation, sizeof w->violation, fmt, ap);
    va_end(ap);
    sim_trace(w, "VIOLATION: %s", w->violation);
}

static unsigned pick(struct sim_rng *r, const unsigned *v, unsigned n)
{
    return v[sim_below(r, n)];
}

static void configure(struct sim_world *w)
{
    static const unsigned crash[] = {0, 2000, 8000, 20000};
    static const unsigned transient[] = {0, 5000, 20000};
    static const unsigned publish[] = {0, 10000};
    static const unsigned flush[] = {0, 30000, 100000};
    struct sim_rng *r = &w->rng;
    w->cfg = (struct sim_config){
        .parts = 1 + sim_below(r, SIM_MAX_PARTS),
        .workers = 1 + sim_below(r, SIM_MAX_WORKERS),
        .posts = 2 + sim_below(r, 5),
        .batch = 1 + sim_below(r, 12),
        .relay_batch = 1 + sim_below(r, 6),
        .max_attempts = 2 + sim_below(r, 2),
        .crash_ppm = pick(r, crash, 4),
        .transient_ppm = pick(r, transient, 3),
        .publish_ppm = pick(r, publish, 2),
        .flush_ppm = pick(r, flush, 3),
        .killers = sim_below(r, 3) == 0,
        .refused = sim_below(r, 3),
        .malformed = sim_below(r, 3),
        .duplicates = sim_below(r, 5),
    };
    /*
     * A database away when a deploy stops a worker: its own stream, so that
     * the seeds of before draw their worlds as they did. At most 4: a stop
     * tries 7 times (handlers/loop.c).
     */
    struct sim_rng own = {w->seed ^ 0x5709u};
    w->cfg.stop_refusals = sim_below(&own, 5);
}

static int add_cmd(struct sim_world *w, enum pw_cmd_type type, unsigned post, unsigned n,
                   int64_t expected)
{
    struct sim_cmd *c = &w->cmds[w->ncmds];
    *c = (struct sim_cmd){.type = type, .expected = expected};
    snprintf(c->id, sizeof c->id, "c%zu", w->ncmds);
    snprintf(c->post_id, sizeof c->post_id, "p%u", post);
    snprintf(c->title, sizeof c->title, "t%u", n);
    return (int)w->ncmds++;
}

/* Each post's commands in order, then interleaved; faults, garbage and duplicates mixed in. */
static void workload(struct sim_world *w)
{
    struct sim_rng *r = &w->rng;
    unsigned np = w->cfg.posts;
    int *seq[8];
    size_t nseq[8] = {0}, at[8] = {0}, total = 0;
    w->cmds = calloc(np * 12, sizeof *w->cmds);
    for (unsigned p = 0; p < np; p++) {
        seq[p] = calloc(12, sizeof *seq[p]);
        seq[p][nseq[p]++] = add_cmd(w, PW_CMD_CREATE_POST, p, 0, 0);
        unsigned updates = sim_below(r, 8);
        for (unsigned u = 1; u <= updates; u++)
            seq[p][nseq[p]++] = add_cmd(w, PW_CMD_UPDATE_POST, p, u,
                                        sim_below(r, 8) == 0 ? 99 : 0); /* 99: a conflict */
        if (sim_below(r, 5) == 0) {
            seq[p][nseq[p]++] = add_cmd(w, PW_CMD_DELETE_POST, p, 0, 0);
            if (sim_below(r, 2))
                seq[p][nseq[p]++] = add_cmd(w, PW_CMD_UPDATE_POST, p, 50, 0); /* after it: rejected */
        }
        total += nseq[p];
    }
    for (unsigned k = 0; k < w->cfg.killers; k++)
        w->cmds[sim_below(r, (unsigned)w->ncmds)].fate = SIM_KILLER;
    for (unsigned k = 0; k < w->cfg.refused; k++)
        w->cmds[sim_below(r, (unsigned)w->ncmds)].fate = SIM_REFUSED;
    size_t cap = total + w->cfg.malformed + w->cfg.duplicates;
    w->plan = calloc(cap, sizeof *w->plan);
    while (w->nplan < total) {
        unsigned p = sim_below(r, np);
        if (at[p] < nseq[p])
            w->plan[w->nplan++] = seq[p][at[p]++];
    }
    for (unsigned k = 0; k < w->cfg.malformed + w->cfg.duplicates; k++) {
        size_t i = sim_below(r, (unsigned)w->nplan + 1);
        int what = -1 - (int)sim_below(r, np); /* garbage keyed to a post */
        if (k >= w->cfg.malformed) { /* a healthy command sent again, later */
            if (!i)
                continue;
            what = w->plan[sim_below(r, (unsigned)i)];
            if (what < 0 || w->cmds[what].fate != SIM_HEALTHY)
                continue;
        }
        memmove(&w->plan[i + 1], &w->plan[i], (w->nplan - i) * sizeof *w->plan);
        w->plan[i] = what;
        w->nplan++;
    }
    for (unsigned p = 0; p < np; p++)
        free(seq[p]);
    w->stats->commands += w->nplan;
}

void sim_cmd_build(const struct sim_cmd *c, int k, struct pw_cmd *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->type = c->type;
    strcpy(cmd->env.source, "/sim");
    strcpy(cmd->env.id, c->id);
    cmd->env.time = (pw_time)1795168800 * 1000000 + k;
    cmd->post_id = c->post_id;
    cmd->expected_version = c->expected;
    if (c->type == PW_CMD_CREATE_POST) {
        cmd->author_name = "Ada";
        cmd->body = "b";
    }
    if (c->type != PW_CMD_DELETE_POST)
        cmd->title = c->title;
}

/* The producers send the next n messages of the plan. */
static void produce(struct sim_world *w, size_t n)
{
    for (; n-- && w->produced < w->nplan; w->produced++) {
        int k = w->plan[w->produced];
        char key[16], *value = NULL;
        size_t len = 0;
        if (k < 0) {
            snprintf(key, sizeof key, "p%d", -1 - k);
            char junk[64]; /* each one unlike the others: no garbage is another sent again */
            snprintf(junk, sizeof junk, "{\"specversion\": \"1.0\", \"junk\": %zu, ", w->produced);
            value = strdup(junk);
            len = strlen(value);
        } else {
            const struct sim_cmd *c = &w->cmds[k];
            struct pw_cmd cmd;
            sim_cmd_build(c, k, &cmd);
            struct pw_errbuf err;
            if (pw_ce_encode_cmd(&cmd, &value, &len, &err))
                abort();
            snprintf(key, sizeof key, "%s", c->post_id);
        }
        sim_log_append(w, k < 0 ? -1 : k, key, value, len);
    }
}

/* One step of p's loop; a failure is its death (injected) or a violation (not). */
static void step(struct sim_world *w, struct sim_proc *p)
{
    struct pw_errbuf err;
    w->current = p;
    w->stats->steps++;
    enum pw_err rc = pw_loop_step(p->loop, &err);
    w->current = NULL;
    if (rc == PW_E_LOST_COMMITS && !p->plan.dead) {
        /*
         * A commit sent without waiting was lost: as bootstrap/worker.c, the
         * worker finishes (what ran is run again: not a death) and rejoins,
         * or, asked to stop, stops there.
         */
        sim_trace(w, "w%d: %s", p->slot, err.msg);
        w->stats->lost++;
        struct pw_errbuf ferr;
        if (p->stop) {
            (void)pw_loop_finish_service(&p->svc, &w->clock, &ferr);
            sim_proc_close(p);
        } else {
            (void)pw_service_finish(&p->svc, &ferr);
            sim_proc_rejoin(p);
        }
    } else if (rc) {
        if (!p->plan.dead)
            sim_violation(w, "w%d stopped on an error no fault explains: %s", p->slot, err.msg);
        sim_proc_crash(p, err.msg);
    } else if (pw_loop_done(p->loop)) {
        sim_proc_close(p);
    }
    w->now_ms += 1;
}

/* Releases the parked posts, as an operator would (postworker release). */
static void release_all(struct sim_world *w)
{
    struct pw_parked v[8];
    size_t n = 0;
    struct pw_errbuf err;
    if (pw_store_parked_list(&w->admin, "", v, 8, &n, &err) || !n)
        return;
    for (size_t i = 0; i < n; i++) {
        if (v[i].draining)
            continue;
        struct pw_parked was;
        bool found;
        if (!pw_store_release(&w->admin, v[i].post_id, false, &was, &found, &err) && found) {
            w->stats->releases++;
            sim_trace(w, "operator: released post '%s'", v[i].post_id);
        }
    }
}

static struct sim_proc *random_proc(struct sim_world *w, enum sim_state want)
{
    unsigned n = w->cfg.workers, at = sim_below(&w->rng, n);
    for (unsigned k = 0; k < n; k++) {
        struct sim_proc *p = &w->procs[(at + k) % n];
        if (p->state == want || (want == SIM_UP && p->state == SIM_STOPPING))
            return p;
    }
    return NULL;
}

/* Restarts and resumes what is due, and lets the group evict the silent. */
static void housekeeping(struct sim_world *w)
{
    for (unsigned i = 0; i < w->cfg.workers; i++) {
        struct sim_proc *p = &w->procs[i];
        if (p->state == SIM_DOWN && (w->now_ms >= p->until_ms || !w->faulty))
            sim_proc_start(p);
        else if (p->state == SIM_PAUSED && (w->now_ms >= p->until_ms || !w->faulty)) {
            p->state = SIM_UP;
            sim_trace(w, "w%d: resumed", p->slot);
        }
    }
    sim_group_tick(w);
}

static void faulty_tick(struct sim_world *w)
{
    struct sim_proc *p;
    unsigned r = sim_below(&w->rng, 1000);
    if (r < 700) {
        if ((p = random_proc(w, SIM_UP)))
            step(w, p);
    } else if (r < 850) {
        produce(w, 1 + sim_below(&w->rng, 8));
    } else if (r < 860) {
        if ((p = random_proc(w, SIM_UP)) && p->state == SIM_UP) {
            p->state = SIM_PAUSED;
            p->until_ms = w->now_ms + 500 + sim_below(&w->rng, 8000);
            w->stats->pauses++;
            sim_trace(w, "w%d: paused", p->slot);
        }
    } else if (r < 865) {
        if ((p = random_proc(w, SIM_UP)) && p->state == SIM_UP) {
            p->stop = 1;
            p->end_refusals = 0;
            p->state = SIM_STOPPING;
            w->stats->stops++;
            sim_trace(w, "w%d: asked to stop (a deploy)", p->slot);
        }
    } else {
        w->now_ms += sim_below(&w->rng, 50);
    }
    housekeeping(w);
}

enum sim_quiet { SIM_BUSY, SIM_PARKED, SIM_QUIET };

/*
 * Every command at its end: all read, stored offsets at the log's end,
 * nothing waiting to be published, and no post parked (SIM_PARKED: all but
 * that, when the operator releases them).
 */
static enum sim_quiet quiet(struct sim_world *w)
{
    struct pw_errbuf err;
    if (w->produced < w->nplan)
        return SIM_BUSY;
    for (unsigned q = 0; q < w->cfg.parts; q++) {
        int64_t at = -1;
        if (pw_store_offset_get(&w->admin, SIM_GROUP, SIM_TOPIC, (int32_t)q, &at, &err) ||
            (at < 0 ? 0 : at) != (int64_t)w->parts[q].n)
            return SIM_BUSY;
    }
    struct pw_parking_stats ps;
    int64_t pending = 0, dead = 0, oldest = 0;
    struct pw_outbox ob;
    if (pw_inmem_outbox_open(&ob, w->store))
        abort();
    enum pw_err rc = pw_outbox_stats(&ob, &pending, &dead, &oldest, &err);
    pw_outbox_close(&ob);
    if (rc || pending || pw_store_parking_stats(&w->admin, &ps, &err))
        return SIM_BUSY;
    for (unsigned i = 0; i < w->cfg.workers; i++)
        if (w->procs[i].state == SIM_UP && w->procs[i].npending)
            return SIM_BUSY;
    return ps.posts || ps.held ? SIM_PARKED : SIM_QUIET;
}

/* What never came to an end: a partition the store has not read to the end, else the rest. */
static void stuck(struct sim_world *w)
{
    struct pw_errbuf err;
    for (unsigned q = 0; q < w->cfg.parts; q++) {
        int64_t at = -1;
        if (!pw_store_offset_get(&w->admin, SIM_GROUP, SIM_TOPIC, (int32_t)q, &at, &err) &&
            (at < 0 ? 0 : at) != (int64_t)w->parts[q].n) {
            sim_violation(w, "stuck: partition %u is stored at offset %lld of %zu and never "
                          "moves on (the group's offset is %lld)", q, (long long)at,
                          w->parts[q].n, (long long)w->parts[q].committed);
            return;
        }
    }
    sim_violation(w, "stuck: the commands never came to an end without faults (an outbox or a "
                  "parked post that never empties, or a worker that never stops retrying)");
}

/* No faults now: everything must come to its end. */
static void heal(struct sim_world *w)
{
    w->faulty = false;
    produce(w, w->nplan);
    sim_trace(w, "healing: no more faults");
    for (unsigned long t = 0;; t++) {
        enum sim_quiet qs = t % 64 ? SIM_BUSY : quiet(w);
        if (qs == SIM_QUIET)
            break;
        if (qs == SIM_PARKED)
            release_all(w);
        if (t > 400000) {
            stuck(w);
            return;
        }
        housekeeping(w);
        struct sim_proc *p = random_proc(w, SIM_UP);
        if (p)
            step(w, p);
    }
    /* A clean stop of every worker: each publishes, commits and leaves. */
    for (unsigned i = 0; i < w->cfg.workers; i++) {
        struct sim_proc *p = &w->procs[i];
        if (p->state != SIM_UP)
            continue;
        p->stop = 1;
        for (unsigned t = 0; p->state == SIM_UP && t < 100000; t++)
            step(w, p);
        if (p->state == SIM_UP)
            sim_violation(w, "w%d did not stop when asked", p->slot);
    }
}

void sim_note_commits(struct sim_world *w)
{
    bool any = false;
    for (unsigned i = 0; i < SIM_MAX_WORKERS; i++)
        if (w->procs[i].plan.commits != w->probe_commits[i]) {
            w->probe_commits[i] = w->procs[i].plan.commits;
            any = true;
        }
    struct pw_errbuf err;
    if (!any)
        return;
    if (pw_uow_begin(&w->probe, &err)) /* the store itself, no faults: a failure is the sim's */
        abort();
    for (unsigned q = 0; q < w->cfg.parts; q++) {
        int64_t at = -1;
        if (pw_store_offset_get(&w->admin, SIM_GROUP, SIM_TOPIC, (int32_t)q, &at, &err))
            abort();
        for (int64_t i = w->consumed[q]; i < at && i < (int64_t)w->parts[q].n; i++) {
            struct sim_msg *m = &w->parts[q].msgs[i];
            bool held = false;
            if (m->cmd >= 0 && pw_uow_held_get(&w->probe, "/sim", w->cmds[m->cmd].id, &held, &err))
                abort();
            m->read_while_held = held;
        }
        if (at > w->consumed[q])
            w->consumed[q] = at;
    }
    pw_uow_rollback(&w->probe);
}

static void world_free(struct sim_world *w)
{
    for (unsigned i = 0; i < SIM_MAX_WORKERS; i++)
        if (w->procs[i].state != SIM_DOWN)
            sim_proc_crash(&w->procs[i], "end of the run");
    pw_uow_close(&w->probe);
    pw_store_close(&w->admin);
    pw_inmem_store_free(w->store);
    for (unsigned q = 0; q < SIM_MAX_PARTS; q++) {
        for (size_t i = 0; i < w->parts[q].n; i++)
            free(w->parts[q].msgs[i].value);
        free(w->parts[q].msgs);
    }
    free(w->cmds);
    free(w->plan);
    free(w->members);
    free(w->delivered);
}

bool sim_run_seed(uint64_t seed, bool trace, struct sim_stats *stats)
{
    struct sim_world *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->seed = seed;
    w->rng.s = seed;
    w->trace = trace;
    w->stats = stats;
    w->faulty = true;
    w->now_ms = 1000;
    w->clock = (struct pw_clock){.ops = &sim_clock_ops, .self = w};
    sim_logging = w;
    configure(w);
    const struct sim_config *c = &w->cfg;
    sim_trace(w, "seed %#llx: %u partitions, %u workers, %u posts, batch %u, relay %u, "
              "max_attempts %u, crash %u ppm, transient %u ppm, publish %u ppm, flush %u ppm, "
              "%u killers, %u refused, %u malformed, %u duplicates, %u refusals at a stop",
              (unsigned long long)seed, c->parts, c->workers, c->posts, c->batch, c->relay_batch,
              c->max_attempts, c->crash_ppm, c->transient_ppm, c->publish_ppm, c->flush_ppm,
              c->killers, c->refused, c->malformed, c->duplicates, c->stop_refusals);
    if (!(w->store = pw_inmem_store_new()) || pw_inmem_store_open(&w->admin, w->store) ||
        pw_inmem_uow_open(&w->probe, w->store))
        abort();
    workload(w);
    for (unsigned q = 0; q < SIM_MAX_PARTS; q++)
        w->parts[q] = (struct sim_part){.committed = -1, .owner = -1};
    for (unsigned i = 0; i < SIM_MAX_WORKERS; i++)
        w->procs[i] = (struct sim_proc){.w = w, .slot = (int)i, .state = SIM_DOWN};
    for (unsigned i = 0; i < c->workers; i++)
        sim_proc_start(&w->procs[i]);
    unsigned ticks = 2000 + sim_below(&w->rng, 6000);
    for (unsigned t = 0; t < ticks && !w->violation[0]; t++)
        faulty_tick(w);
    if (!w->violation[0])
        heal(w);
    if (!w->violation[0]) {
        sim_note_commits(w); /* the last commits, which no port call followed */
        sim_check(w);
    }
    bool ok = !w->violation[0];
    if (!ok && !trace)
        printf("VIOLATION (seed %#llx): %s\n", (unsigned long long)seed, w->violation);
    world_free(w);
    free(w);
    sim_logging = NULL;
    stats->seeds++;
    return ok;
}

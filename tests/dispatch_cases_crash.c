/*
 * The dispatch contract's failure path: a stream of commands run batch by
 * batch, as the worker runs it, by "processes" (tests/proc.h) that die at
 * one call of the store (every call from there on fails, nothing more
 * lands, and the next process starts from what was stored). Every crash
 * point is tried, not a sample of them. Then a command that kills whoever
 * runs it, one the store refuses, and one the store keeps cutting off.
 */
#include "tests/dispatch_contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/proc.h"

enum { STREAM_POSTS = 20, STREAM_EACH = 5, STREAM_PARTS = 3, STREAM_BATCH = 8 };
#define STREAM_N (STREAM_POSTS * STREAM_EACH)

/* A stream: post i on partition i % STREAM_PARTS, its create then updates. */
struct stream {
    char ids[STREAM_N][16], posts[STREAM_POSTS][16];
    struct pw_cmd cmds[STREAM_PARTS][STREAM_N]; /* per partition, by offset */
    size_t len[STREAM_PARTS];
};

static void stream_make(struct stream *s)
{
    memset(s, 0, sizeof *s);
    size_t k = 0;
    for (int round = 0; round < STREAM_EACH; round++)
        for (int p = 0; p < STREAM_POSTS; p++, k++) {
            snprintf(s->posts[p], sizeof s->posts[p], "s%d", p);
            snprintf(s->ids[k], sizeof s->ids[k], "c%d-%d", p, round);
            int part = p % STREAM_PARTS;
            s->cmds[part][s->len[part]++] =
                round ? cmd_update(s->ids[k], s->posts[p], "t", round, T0 + round)
                      : cmd_create(s->ids[k], s->posts[p], T0);
        }
}

/*
 * The next batch from the stored positions, round robin over the
 * partitions; its offsets in off[]. false when the stream is done.
 */
static bool stream_batch(const struct stream *s, struct world *w, struct pw_input *in, size_t *n,
                         struct pw_offset *off, size_t *noff)
{
    int64_t at[STREAM_PARTS];
    for (int p = 0; p < STREAM_PARTS; p++) {
        struct pw_errbuf err;
        cr_assert_eq(pw_store_offset_get(&w->st, "g", "post-commands", p, &at[p], &err), PW_OK,
                     "%s", err.msg);
        if (at[p] < 0)
            at[p] = 0;
    }
    *n = *noff = 0;
    for (bool more = true; more && *n < STREAM_BATCH;) {
        more = false;
        for (int p = 0; p < STREAM_PARTS && *n < STREAM_BATCH; p++) {
            if ((size_t)at[p] >= s->len[p])
                continue;
            more = true;
            in[*n] = (struct pw_input){.origin = {.group = "g", .topic = "post-commands",
                                                  .partition = p, .offset = at[p],
                                                  .timestamp_ms = -1, .value = "v",
                                                  .value_len = 1},
                                       .cmd = s->cmds[p][at[p]]};
            (*n)++;
            at[p]++;
            size_t k = 0;
            while (k < *noff && off[k].partition != p)
                k++;
            if (k == *noff)
                (*noff)++;
            off[k] = (struct pw_offset){.group = "g", .topic = "post-commands", .partition = p,
                                        .next = at[p]};
        }
    }
    return *n > 0;
}

/*
 * Runs the stream to its end with up to `kills` processes each dying at
 * its nth store call after its first commit (so each made progress), then
 * one that lives. Returns how many died (fewer when the stream ended first).
 */
static int stream_run(struct world *w, const struct stream *s, unsigned nth, int kills)
{
    struct pw_input in[STREAM_BATCH];
    struct pw_outcome outs[STREAM_BATCH];
    struct pw_offset off[STREAM_PARTS];
    size_t n, noff;
    int died = 0;
    struct proc p;
    bool alive = false;
    while (stream_batch(s, w, in, &n, off, &noff)) {
        if (!alive) {
            struct pw_fault plan = {.after_commit = true, .code = PW_E_FATAL,
                                    .from_then_on = true, .nth = died < kills ? nth : 0};
            proc_start(&p, w, &plan);
            alive = true;
        }
        struct pw_errbuf err;
        enum pw_err rc = proc_run(&p, in, n, off, noff, false, outs, NULL, &err);
        if (rc == PW_E_FATAL && p.plan.failures) {
            died++; /* the process is gone, and what it had not committed with it */
            proc_stop(&p);
            alive = false;
            continue;
        }
        cr_assert_eq(rc, PW_OK, "crash point %u, after %d deaths: %s", nth, died, err.msg);
    }
    if (alive)
        proc_stop(&p);
    return died;
}

void dispatch_case_kills_around_healthy_commands_never_dead_letter_one(struct world *w)
{
    struct stream s;
    stream_make(&s);
    /* Every crash point of a process's calls after its first commit, ten deaths each. */
    for (unsigned nth = 1; nth <= 40; nth++) {
        struct world x;
        world_open_like(&x, w);
        int died = stream_run(&x, &s, nth, 10);
        cr_assert_gt(died, 0, "crash point %u: processes made progress, then died", nth);
        size_t nevents;
        world_published(&x, &nevents);
        const struct pw_out *dls[1];
        if (world_dead_letters(&x, dls, 1))
            cr_assert_fail("crash point %u: a healthy command was dead-lettered: %s", nth,
                           dls[0]->dl.message);
        cr_assert_geq(nevents, STREAM_N, "crash point %u: every event published", nth);
        for (int p = 0; p < STREAM_POSTS; p++)
            cr_assert_eq(post_version(&x, s.posts[p]), STREAM_EACH, "crash point %u: post %s",
                         nth, s.posts[p]);
        world_close(&x);
    }
}

/* Runs in[from..n) in processes that die on the killer, until one lives; how many died. */
static int run_until_it_lives(struct world *w, const struct pw_cmd *cmds, size_t n,
                              const char *killer, struct pw_outcome *outs)
{
    int deaths = 0;
    for (;;) {
        int64_t at = -1;
        cr_assert_eq(pw_store_offset_get(&w->st, "g", "post-commands", 0, &at, NULL), PW_OK);
        size_t from = at < 0 ? 0 : (size_t)at;
        struct pw_input *in = inputs_at(cmds + from, n - from, 0, (int64_t)from);
        struct pw_offset off = {.group = "g", .topic = "post-commands", .next = (int64_t)n};
        struct pw_fault plan = {.poison_id = killer, .poison_code = PW_E_FATAL};
        struct proc p;
        proc_start(&p, w, &plan);
        struct pw_errbuf err;
        enum pw_err rc = proc_run(&p, in, n - from, &off, 1, false, outs + from, NULL, &err);
        proc_stop(&p);
        free(in);
        if (rc == PW_OK)
            return deaths;
        cr_assert_eq(rc, PW_E_FATAL, "%s", err.msg);
        cr_assert_lt(++deaths, 20, "the killer should have been given up long ago");
    }
}

void dispatch_case_a_killer_is_given_up_after_max_attempts_deaths_alone_and_parks_its_post(
    struct world *w)
{
    struct pw_cmd cmds[] = {cmd_create("k0", "q0", T0), cmd_create("k1", "q1", T0),
                            cmd_create("k2", "q2", T0), cmd_create("k3", "q3", T0),
                            cmd_update("k4", "q2", "after", 0, T0), cmd_create("k5", "q5", T0)};
    struct pw_outcome outs[6];
    int deaths = run_until_it_lives(w, cmds, 6, "k2", outs);
    cr_assert_eq(deaths, 4, "one death of the batch, which only says where to look, then three "
                            "of the killer alone: %d",
                 deaths);
    /* The last process started at the killer: the ones before it were done by those that died. */
    cr_assert_eq(outs[2].kind, PW_OUTCOME_REJECTED);
    cr_assert_eq(outs[2].err.code, PW_E_MAX_ATTEMPTS);
    cr_assert_eq(outs[3].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(outs[4].kind, PW_OUTCOME_HELD, "its post's next command waits behind it");
    cr_assert_eq(outs[5].kind, PW_OUTCOME_APPLIED);
    static const char *const posts[] = {"q0", "q1", "q2", "q3", "q5"};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(post_version(w, posts[i]), i == 2 ? 0 : 1, "post %s", posts[i]);
    size_t n;
    world_published(w, &n);
    cr_assert_eq(n, 4, "every other command applied once");
    const struct pw_out *dls[2];
    cr_assert_eq(world_dead_letters(w, dls, 2), 1);
    cr_assert_eq(dls[0]->dl.code, PW_E_MAX_ATTEMPTS);
    cr_assert_eq(dls[0]->dl.attempts, 3, "it died three times while it ran alone");
    cr_assert_eq(dls[0]->dl.origin.offset, 2);
    cr_assert_str_eq(dls[0]->dl.parked, "q2", "named by its key: it was never decoded");
    int64_t next = 0;
    cr_assert_eq(pw_store_offset_get(&w->st, "g", "post-commands", 0, &next, NULL), PW_OK);
    cr_assert_eq(next, 6);
}

/* Every fourth command the store refuses: found by halves, the rest applied. */
void dispatch_case_a_command_the_store_refuses_is_found_by_halves(struct world *w)
{
    enum { N = 500, BAD = 321 };
    struct pw_cmd *cmds = calloc(N, sizeof *cmds);
    char (*ids)[16] = calloc(N, sizeof *ids), (*posts)[16] = calloc(N, sizeof *posts);
    cr_assert(cmds && ids && posts);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        snprintf(posts[i], sizeof posts[i], "rp%d", i);
        cmds[i] = cmd_create(ids[i], posts[i], T0);
    }
    struct pw_input *in = inputs_at(cmds, N, 0, 0);
    for (int i = 0; i < N; i++)
        in[i].origin.partition = i % 4;
    struct pw_offset off[4];
    for (int p = 0; p < 4; p++)
        off[p] = (struct pw_offset){.group = "g", .topic = "post-commands", .partition = p,
                                    .next = N - 4 + p + 1};
    struct pw_outcome *outs = calloc(N, sizeof *outs);
    struct pw_fault plan = {.poison_id = ids[BAD], .poison_code = PW_E_APPLY_FAILED};
    struct proc p;
    proc_start(&p, w, &plan);
    struct pw_errbuf err;
    cr_assert_eq(proc_run(&p, in, N, off, 4, false, outs, NULL, &err), PW_OK, "%s", err.msg);
    unsigned transactions = p.plan.begins;
    proc_stop(&p);
    cr_log_info("one refused command in a batch of %d: %u transactions", N, transactions);
    cr_assert_leq(transactions, 40, "tens of transactions, not hundreds: %u", transactions);
    for (int i = 0; i < N; i++)
        cr_assert_eq(outs[i].kind, i == BAD ? PW_OUTCOME_REJECTED : PW_OUTCOME_APPLIED, "%d", i);
    cr_assert_eq(outs[BAD].err.code, PW_E_APPLY_FAILED);
    cr_assert_eq(post_version(w, posts[BAD]), 0);
    cr_assert_eq(post_version(w, posts[BAD + 1]), 1);
    size_t n;
    world_published(w, &n);
    cr_assert_eq(n, N - 1);
    const struct pw_out *dls[2];
    cr_assert_eq(world_dead_letters(w, dls, 2), 1);
    cr_assert_str_eq(dls[0]->dl.parked, posts[BAD]);
    cr_assert_gt(dls[0]->dl.attempts, 1, "tried in its batch and in each half that held it");
    for (int q = 0; q < 4; q++) {
        int64_t next = 0;
        cr_assert_eq(pw_store_offset_get(&w->st, "g", "post-commands", q, &next, NULL), PW_OK);
        cr_assert_eq(next, off[q].next, "partition %d", q);
    }
    free(outs);
    free(in);
    free(cmds);
    free(ids);
    free(posts);
}

/*
 * A run the store cuts off (statement_timeout, a crashed backend) is run
 * again, then one message at a time, and a command whose runs alone keep
 * being cut off counts as one that died: failed, max_attempts, its post
 * parked, not its partition stalled for good.
 */
void dispatch_case_a_command_the_store_keeps_cutting_off_ends_as_failed(struct world *w)
{
    struct pw_cmd cmds[] = {cmd_create("t0", "u0", T0), cmd_create("t1", "u1", T0),
                            cmd_update("t2", "u0", "x", 0, T0)};
    struct pw_input *in = inputs_at(cmds, 3, 0, 0);
    struct pw_offset off = {.group = "g", .topic = "post-commands", .next = 3};
    struct pw_outcome outs[3];
    struct pw_fault plan = {.poison_id = "t0", .poison_code = PW_E_INTERRUPTED};
    struct proc p;
    proc_start(&p, w, &plan);
    struct pw_errbuf err;
    enum pw_err rc;
    unsigned tries = 0;
    bool again = false;
    while ((rc = proc_run(&p, in, 3, &off, 1, again, outs, NULL, &err)) == PW_E_INTERRUPTED) {
        again = true; /* as the worker runs it, after a backoff */
        cr_assert_lt(++tries, 30, "it should have been given up");
    }
    proc_stop(&p);
    cr_assert_eq(rc, PW_OK, "%s", err.msg);
    cr_assert_geq(tries, 9, "three runs of many, then three times three alone: %u", tries);
    cr_assert_eq(outs[0].kind, PW_OUTCOME_REJECTED);
    cr_assert_eq(outs[0].err.code, PW_E_MAX_ATTEMPTS);
    cr_assert_eq(outs[1].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(outs[2].kind, PW_OUTCOME_HELD);
    cr_assert_eq(post_version(w, "u1"), 1);
    world_published(w, &(size_t){0});
    const struct pw_out *dls[2];
    cr_assert_eq(world_dead_letters(w, dls, 2), 1);
    cr_assert_str_eq(dls[0]->dl.parked, "u0");
    free(in);
}

/*
 * A worker paused long enough to lose its partitions wakes with a batch in
 * hand that the partition's new owner went past: what is below the stored
 * offset is done, and not run again. (The simulator found a command given
 * up there applied by the woken worker after the ones that followed it.)
 */
void dispatch_case_a_batch_below_the_stored_offset_runs_only_what_is_past_it(struct world *w)
{
    struct pw_errbuf err;
    store_begin(&w->uow);
    cr_assert_eq(pw_uow_offset_put(&w->uow, "g", "post-commands", 0, 2, &err), PW_OK, "%s",
                 err.msg);
    store_commit(&w->uow);
    struct pw_cmd cmds[] = {cmd_create("z0", "y0", T0), cmd_create("z1", "y1", T0),
                            cmd_create("z2", "y2", T0)};
    struct pw_input *in = inputs_at(cmds, 3, 0, 0);
    struct pw_offset off = {.group = "g", .topic = "post-commands", .next = 3};
    struct pw_outcome outs[3];
    struct proc p;
    proc_start(&p, w, NULL);
    cr_assert_eq(proc_run(&p, in, 3, &off, 1, false, outs, NULL, &err), PW_OK, "%s", err.msg);
    proc_stop(&p);
    cr_assert_eq(outs[0].kind, PW_OUTCOME_DUPLICATE, "%s", pw_outcome_kind_name(outs[0].kind));
    cr_assert_eq(outs[1].kind, PW_OUTCOME_DUPLICATE);
    cr_assert_eq(outs[2].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(post_version(w, "y0"), 0, "not run again");
    cr_assert_eq(post_version(w, "y2"), 1);
    free(in);
}

/*
 * A post parked behind a failed command keeps waiting on that one when
 * another of its commands is given up before it could be held: else the
 * commands held behind the first would run once the second is sent again.
 * (The simulator found the park moved to the second.)
 */
void dispatch_case_a_give_up_does_not_move_a_park_to_itself(struct world *w)
{
    struct pw_cmd first[] = {cmd_create("k0", "x0", T0), cmd_update("k1", "x0", "a", 0, T0)};
    struct pw_input *in = inputs_at(first, 2, 0, 0);
    struct pw_offset off = {.group = "g", .topic = "post-commands", .next = 2};
    struct pw_outcome outs[3];
    struct pw_errbuf err;
    struct pw_fault refuse = {.poison_id = "k1", .poison_code = PW_E_APPLY_FAILED};
    struct proc p;
    proc_start(&p, w, &refuse);
    cr_assert_eq(proc_run(&p, in, 2, &off, 1, false, outs, NULL, &err), PW_OK, "%s", err.msg);
    proc_stop(&p);
    cr_assert_eq(outs[1].err.code, PW_E_APPLY_FAILED, "x0 is parked behind k1");
    /* k2 kills whoever runs it, alone, until it is given up. */
    struct pw_cmd second[] = {cmd_update("k2", "x0", "b", 0, T0)};
    struct pw_input *in2 = inputs_at(second, 1, 0, 2);
    struct pw_offset off2 = {.group = "g", .topic = "post-commands", .next = 3};
    enum pw_err rc;
    int deaths = 0;
    do {
        struct pw_fault kill = {.poison_id = "k2", .poison_code = PW_E_FATAL};
        proc_start(&p, w, &kill);
        rc = proc_run(&p, in2, 1, &off2, 1, false, outs, NULL, &err);
        proc_stop(&p);
        cr_assert_lt(++deaths, 10, "it should have been given up");
    } while (rc == PW_E_FATAL);
    cr_assert_eq(rc, PW_OK, "%s", err.msg);
    cr_assert_eq(outs[0].err.code, PW_E_MAX_ATTEMPTS);
    struct pw_parked park;
    bool parked = false;
    store_begin(&w->uow);
    cr_assert_eq(pw_uow_parked_get(&w->uow, "x0", &park, &parked, &err), PW_OK, "%s", err.msg);
    pw_uow_rollback(&w->uow);
    cr_assert(parked);
    cr_assert_str_eq(park.id, "k1", "x0 still waits on k1, not on %s", park.id);
    /* Released, with a command held: it drains, and a give-up meanwhile does not re-park it. */
    struct pw_cmd third[] = {cmd_update("k3", "x0", "c", 0, T0), cmd_update("k4", "x0", "d", 0, T0)};
    struct pw_input *in3 = inputs_at(third, 2, 0, 3);
    struct pw_offset off3 = {.group = "g", .topic = "post-commands", .next = 4};
    proc_start(&p, w, NULL);
    cr_assert_eq(proc_run(&p, in3, 1, &off3, 1, false, outs, NULL, &err), PW_OK, "%s", err.msg);
    proc_stop(&p);
    cr_assert_eq(outs[0].kind, PW_OUTCOME_HELD);
    bool found = false;
    cr_assert_eq(pw_store_release(&w->st, "x0", false, &park, &found, &err), PW_OK, "%s", err.msg);
    cr_assert(found);
    struct pw_offset off4 = {.group = "g", .topic = "post-commands", .next = 5};
    deaths = 0;
    do {
        struct pw_fault kill = {.poison_id = "k4", .poison_code = PW_E_FATAL};
        proc_start(&p, w, &kill);
        rc = proc_run(&p, &in3[1], 1, &off4, 1, false, outs, NULL, &err);
        proc_stop(&p);
        cr_assert_lt(++deaths, 10, "it should have been given up");
    } while (rc == PW_E_FATAL);
    cr_assert_eq(outs[0].err.code, PW_E_MAX_ATTEMPTS);
    store_begin(&w->uow);
    cr_assert_eq(pw_uow_parked_get(&w->uow, "x0", &park, &parked, &err), PW_OK, "%s", err.msg);
    pw_uow_rollback(&w->uow);
    cr_assert(parked && park.draining, "x0 still drains, not parked behind k4");
    proc_start(&p, w, NULL);
    decode_table(third, 2);
    cr_assert_eq(proc_drain(&p, decode_by_id), 1, "k3, held, runs");
    proc_stop(&p);
    cr_assert_eq(post_version(w, "x0"), 2, "k3 applied after the release");
    free(in);
    free(in2);
    free(in3);
}

/*
 * A clean stop is no death: a worker whose run of a message alone failed
 * transiently, and which a deploy then stopped, says so, and a command
 * that met that max_attempts times over is still applied. (The simulator
 * found this: each such stop counted as a death, and a healthy command was
 * given up after one real death and one stop.)
 */
void dispatch_case_a_clean_stop_during_a_run_alone_is_no_death(struct world *w)
{
    struct pw_cmd cmds[] = {cmd_create("s0", "w0", T0), cmd_create("s1", "w1", T0)};
    struct pw_input *in = inputs_at(cmds, 2, 0, 0);
    struct pw_offset off = {.group = "g", .topic = "post-commands", .next = 2};
    struct pw_outcome outs[2];
    struct pw_errbuf err;
    /* It dies once on s0: from then on its batch runs one message at a time. */
    struct pw_fault kill = {.poison_id = "s0", .poison_code = PW_E_FATAL};
    struct proc p;
    proc_start(&p, w, &kill);
    cr_assert_eq(proc_run(&p, in, 2, &off, 1, false, outs, NULL, &err), PW_E_FATAL);
    proc_stop(&p);
    for (int k = 0; k < 4; k++) {
        struct pw_fault once = {.fail_id = "s0"};
        proc_start(&p, w, &once);
        cr_assert_eq(proc_run(&p, in, 2, &off, 1, false, outs, NULL, &err), PW_E_TRANSIENT,
                     "stop %d: %s", k, err.msg);
        proc_finish(&p);
    }
    proc_start(&p, w, NULL);
    cr_assert_eq(proc_run(&p, in, 2, &off, 1, false, outs, NULL, &err), PW_OK, "%s", err.msg);
    proc_stop(&p);
    cr_assert_eq(outs[0].kind, PW_OUTCOME_APPLIED, "one death and four clean stops: %s %s",
                 pw_outcome_kind_name(outs[0].kind), outs[0].err.msg);
    cr_assert_eq(outs[1].kind, PW_OUTCOME_APPLIED);
    free(in);
}

/*
 * The same batch again after a transient failure, at any call of a batch
 * that holds a command the store refuses, goes on where it stopped: what
 * committed is not run again, and every outcome is reported once. A replay
 * (no offsets) counts nothing.
 */
void dispatch_case_a_rerun_here_goes_on_where_it_stopped(struct world *w)
{
    struct pw_cmd cmds[] = {cmd_create("a0", "v0", T0), cmd_create("a1", "v1", T0),
                            cmd_create("a2", "v2", T0), cmd_create("a3", "v3", T0),
                            cmd_update("a4", "v2", "x", 0, T0)};
    struct pw_input *in = inputs_at(cmds, 5, 0, 100);
    struct pw_offset off = {.group = "g", .topic = "post-commands", .next = 105};
    struct pw_outcome outs[5];
    struct pw_errbuf err;
    unsigned cut_short = 0;
    for (unsigned nth = 1; nth <= 60; nth++) {
        struct world x;
        world_open_like(&x, w);
        struct pw_fault plan = {.poison_id = "a2", .poison_code = PW_E_APPLY_FAILED, .nth = nth};
        struct proc p;
        proc_start(&p, &x, &plan);
        enum pw_err rc = proc_run(&p, in, 5, &off, 1, false, outs, NULL, &err);
        if (rc == PW_E_TRANSIENT) {
            cut_short += post_version(&x, "v0") == 1;
            rc = proc_run(&p, in, 5, &off, 1, true, outs, NULL, &err);
        }
        proc_stop(&p);
        cr_assert_eq(rc, PW_OK, "call %u: %s", nth, err.msg);
        for (int i = 0; i < 5; i++) {
            enum pw_outcome_kind want = i == 2 ? PW_OUTCOME_REJECTED
                                        : i == 4 ? PW_OUTCOME_HELD
                                                 : PW_OUTCOME_APPLIED;
            cr_assert_eq(outs[i].kind, want, "call %u: command %d is %s", nth, i,
                         pw_outcome_kind_name(outs[i].kind));
        }
        size_t n;
        world_published(&x, &n);
        cr_assert_eq(n, 3, "call %u: each applied once", nth);
        const struct pw_out *dls[2];
        cr_assert_eq(world_dead_letters(&x, dls, 2), 1, "call %u", nth);
        world_close(&x);
    }
    cr_assert_gt(cut_short, 0, "some failure came after part of the batch committed");
    /* A replay stores no offsets and counts nothing. */
    struct proc p;
    proc_start(&p, w, NULL);
    cr_assert_eq(proc_run(&p, in, 2, NULL, 0, false, outs, NULL, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(outs[0].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(p.app.runs.nmemo, 0, "nothing was recorded");
    proc_stop(&p);
    free(in);
}

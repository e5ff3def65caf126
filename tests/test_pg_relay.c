/*
 * The relay's lock on PostgreSQL against a wall clock that steps back: an
 * NTP correction must not stop a waiting reader from taking over from a
 * relay that died (it waited as long as the step: two hours).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>

#include "adapters/pg/pg.h"
#include "tests/helpers.h"
#include "tests/pg_world.h"
#include "tests/store_contract.h"

/*
 * The wall clock this test process's own code reads, stepped by the test:
 * time() is defined here, so every call from the worker's code linked into
 * this binary reads it (libraries keep libc's).
 */
static time_t wall_step_s;

time_t time(time_t *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t now = ts.tv_sec + wall_step_s;
    if (t)
        *t = now;
    return now;
}

static size_t peek(struct pw_outbox *ob)
{
    struct pw_out outs[4];
    uint64_t seqs[4];
    size_t n = 0;
    struct pw_errbuf err;
    cr_assert_eq(pw_outbox_peek(ob, outs, seqs, 4, &n, &err), PW_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        pw_out_release(&outs[i]);
    return n;
}

Test(pg_relay, a_wall_clock_stepped_back_does_not_keep_the_relay_from_moving, .timeout = 30)
{
    struct pg_schema s;
    pg_schema_open(&s);
    struct pw_uow uow;
    struct pw_outbox first, second;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_uow_open(&uow, s.store), PW_OK);
    cr_assert_eq(pw_pg_outbox_open(&first, s.store), PW_OK);
    cr_assert_eq(pw_pg_outbox_open(&second, s.store), PW_OK);
    struct pw_event ev = store_event_make("p-1", "c1");
    cr_assert_eq(pw_uow_begin(&uow, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_outbox_put(&uow, "post-events", &ev, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_commit(&uow, &err), PW_OK, "%s", err.msg);
    pw_event_release(&ev);
    cr_assert_eq(peek(&first), 1, "the first reader is the relay");
    cr_assert_eq(peek(&second), 0, "the second waits, and will ask again in a second");
    wall_step_s = -7200; /* NTP steps the clock back two hours */
    pw_outbox_close(&first); /* the relay dies: its session, and its lock, end */
    size_t n = 0;
    for (int i = 0; i < 40 && !n; i++) {
        struct timespec nap = {0, 100 * 1000000L};
        nanosleep(&nap, NULL);
        n = peek(&second);
    }
    cr_assert_eq(n, 1, "the second reader took over within 4 s, whatever the wall clock did");
    pw_outbox_close(&second);
    pw_uow_close(&uow);
    pg_schema_close(&s);
}

/*
 * A relay that stops (SIGSTOP, a frozen VM) keeps its session: the role
 * must still move, within seconds, and the old relay, when it wakes, must
 * find it gone rather than publish again what its successor did.
 */
Test(pg_relay, a_paused_relay_gives_way_within_its_lease_and_finds_it_gone_when_it_wakes,
     .timeout = 30)
{
    struct pg_schema s;
    pg_schema_open(&s);
    struct pw_uow uow;
    struct pw_outbox first, second;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_uow_open(&uow, s.store), PW_OK);
    cr_assert_eq(pw_pg_outbox_open(&first, s.store), PW_OK);
    cr_assert_eq(pw_pg_outbox_open(&second, s.store), PW_OK);
    struct pw_event ev = store_event_make("p-1", "c1");
    cr_assert_eq(pw_uow_begin(&uow, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_outbox_put(&uow, "post-events", &ev, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_commit(&uow, &err), PW_OK, "%s", err.msg);
    pw_event_release(&ev);
    cr_assert_eq(peek(&first), 1, "the first reader is the relay");
    cr_assert_eq(peek(&second), 0, "the second waits");
    /* The first stops: no call, its connection open. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t n = 0;
    for (int i = 0; i < 150 && !n; i++) {
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
        n = peek(&second);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_eq(n, 1, "the second reader took over while the first is stopped");
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 10, "within the lease and a retry");
    cr_assert_eq(peek(&first), 0, "the first, woken, is not the relay any more");
    cr_assert_eq(peek(&second), 1, "the second still is");
    pw_outbox_close(&first);
    pw_outbox_close(&second);
    pw_uow_close(&uow);
    pg_schema_close(&s);
}

static bool held_next(struct pw_store *st)
{
    struct pw_held h;
    bool found = false;
    struct pw_errbuf err;
    cr_assert_eq(pw_store_held_next(st, &h, &found, &err), PW_OK, "%s", err.msg);
    if (found)
        pw_held_release(&h);
    return found;
}

/*
 * The one that drains held commands, stopped (SIGSTOP) with its session
 * open, gives the role up within its lease too: held commands wait for no
 * stopped process.
 */
Test(pg_relay, a_paused_drainer_gives_way_within_its_lease, .timeout = 30)
{
    struct pg_schema s;
    pg_schema_open(&s);
    struct pw_uow uow;
    struct pw_store first, second;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_uow_open(&uow, s.store), PW_OK);
    cr_assert_eq(pw_pg_store_open(&first, s.store), PW_OK);
    cr_assert_eq(pw_pg_store_open(&second, s.store), PW_OK);
    struct pw_parked p = {.code = PW_E_APPLY_FAILED, .partition = 2, .offset = 41};
    snprintf(p.post_id, sizeof p.post_id, "p-3");
    snprintf(p.source, sizeof p.source, "/test");
    snprintf(p.id, sizeof p.id, "c-1");
    snprintf(p.topic, sizeof p.topic, "post-commands");
    struct pw_origin o = {.group = "g", .topic = "post-commands", .partition = 2, .offset = 60,
                          .key = "p-3", .key_len = 3, .value = "held", .value_len = 4};
    cr_assert_eq(pw_uow_begin(&uow, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_park(&uow, &p, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_hold(&uow, "p-3", "/test", "c-2", &o, 0, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_commit(&uow, &err), PW_OK, "%s", err.msg);
    bool found = false;
    cr_assert_eq(pw_store_release(&second, "p-3", false, &p, &found, &err), PW_OK, "%s", err.msg);
    cr_assert(found);
    cr_assert(held_next(&first), "the first to ask drains");
    cr_assert_not(held_next(&second), "the other waits");
    bool took = false;
    for (int i = 0; i < 150 && !took; i++) {
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
        took = held_next(&second);
    }
    cr_assert(took, "the second took the drain over while the first is stopped");
    cr_assert_not(held_next(&first), "the first, woken, does not drain any more");
    pw_store_close(&first);
    pw_store_close(&second);
    pw_uow_close(&uow);
    pg_schema_close(&s);
}

/*
 * The store contract's cases for what lives outside a batch's usual rows:
 * the count of runs that finds a message which kills the process, and the
 * parked posts with their held commands.
 */
#include "tests/store_contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers.h"

static struct pw_run_start run_at(int32_t partition, int64_t offset, bool alone, uint64_t token,
                                  uint64_t ended)
{
    return (struct pw_run_start){.group = "g", .topic = "post-commands", .partition = partition,
                                 .offset = offset, .alone = alone, .token = token,
                                 .ended = ended};
}

static void runs(struct store *s, struct pw_run_start *r, size_t n)
{
    struct pw_errbuf err;
    cr_assert_eq(pw_store_runs_start(&s->st, r, n, &err), PW_OK, "%s", err.msg);
}

void store_case_a_run_that_died_is_seen_and_only_a_death_alone_is_counted(struct store *s)
{
    /* A first run of many, at 10 and 20 of two partitions. */
    struct pw_run_start r[] = {run_at(0, 10, false, 1, 0), run_at(1, 20, false, 1, 0)};
    runs(s, r, 2);
    cr_assert_not(r[0].died, "nothing ran here before");
    cr_assert_eq(r[0].deaths, 0);
    /* The same place again, by one that does not know the last run ended: it died. */
    struct pw_run_start again[] = {run_at(0, 10, false, 2, 0), run_at(1, 20, true, 2, 0)};
    runs(s, again, 2);
    cr_assert(again[0].died);
    cr_assert(again[1].died);
    cr_assert_eq(again[0].deaths, 0, "a death of a run of many counts against no message");
    cr_assert_eq(again[1].deaths, 0);
    /* Partition 1's last run was one message alone: its death counts, and adds up. */
    struct pw_run_start alone[] = {run_at(1, 20, true, 3, 0)};
    runs(s, alone, 1);
    cr_assert(alone[0].died);
    cr_assert_eq(alone[0].deaths, 1);
    alone[0] = run_at(1, 20, true, 4, 0);
    runs(s, alone, 1);
    cr_assert_eq(alone[0].deaths, 2);
    /* Its own last run, which the caller saw end alive: not a death, and the count stays. */
    alone[0] = run_at(1, 20, true, 5, 4);
    runs(s, alone, 1);
    cr_assert_not(alone[0].died);
    cr_assert_eq(alone[0].deaths, 2);
    /* A run that ended alive, but claimed by a token not the last one's: a death. */
    alone[0] = run_at(1, 20, true, 6, 4);
    runs(s, alone, 1);
    cr_assert(alone[0].died);
    cr_assert_eq(alone[0].deaths, 3);
    /* A new offset starts afresh; other groups, topics and partitions are apart. */
    struct pw_run_start next[] = {run_at(1, 21, true, 7, 6), run_at(0, 10, false, 7, 2)};
    next[1].topic = "other";
    runs(s, next, 2);
    cr_assert_not(next[0].died);
    cr_assert_eq(next[0].deaths, 0);
    cr_assert_not(next[1].died, "another topic's partition 0 is new");
    /* Not part of a transaction: a rollback takes nothing back. */
    store_begin(&s->uow);
    pw_uow_rollback(&s->uow);
    struct pw_run_start back[] = {run_at(0, 10, true, 8, 0)};
    runs(s, back, 1);
    cr_assert(back[0].died, "partition 0's run from 10 (token 2) never said it ended");
}

/*
 * A process that stops cleanly in the middle of a run (it failed
 * transiently, then a deploy stopped it) says the run ended alive, and
 * whoever starts there next counts no death; only the last run there can
 * be ended so.
 */
void store_case_a_run_ended_alive_is_no_death_to_the_next(struct store *s)
{
    struct pw_errbuf err;
    struct pw_run_start r[] = {run_at(2, 30, true, 11, 0), run_at(3, 40, false, 11, 0)};
    runs(s, r, 2);
    cr_assert_eq(pw_store_runs_end(&s->st, r, 2, &err), PW_OK, "%s", err.msg);
    struct pw_run_start next[] = {run_at(2, 30, true, 12, 0), run_at(3, 40, true, 12, 0)};
    runs(s, next, 2);
    cr_assert_not(next[0].died, "the run before ended alive");
    cr_assert_eq(next[0].deaths, 0);
    cr_assert_not(next[1].died);
    /* Run 11 is no longer the last at 30: ending it again changes nothing. */
    cr_assert_eq(pw_store_runs_end(&s->st, r, 1, &err), PW_OK, "%s", err.msg);
    struct pw_run_start third[] = {run_at(2, 30, true, 13, 0)};
    runs(s, third, 1);
    cr_assert(third[0].died, "run 12 never said it ended");
    cr_assert_eq(third[0].deaths, 1);
    /* Its own token as ended, after a run another process ended: still no death. */
    cr_assert_eq(pw_store_runs_end(&s->st, third, 1, &err), PW_OK, "%s", err.msg);
    struct pw_run_start fourth[] = {run_at(2, 30, true, 14, 12)};
    runs(s, fourth, 1);
    cr_assert_not(fourth[0].died);
    cr_assert_eq(fourth[0].deaths, 1, "the count stays");
}

/*
 * A run that starts below its partition's stored offset reruns work
 * already done (a worker that lost its partitions while paused, and runs
 * the batch it held): it is not recorded, so that it cannot reset the count
 * of the message at the stored offset. (The simulator found a killer given
 * up after four deaths, not two, once a paused worker woke.)
 */
void store_case_a_run_below_the_stored_offset_changes_no_count(struct store *s)
{
    struct pw_errbuf err;
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_offset_put(&s->uow, "g", "post-commands", 5, 50, &err), PW_OK, "%s",
                 err.msg);
    store_commit(&s->uow);
    struct pw_run_start r[] = {run_at(5, 50, true, 21, 0)};
    runs(s, r, 1); /* it dies */
    struct pw_run_start again[] = {run_at(5, 50, true, 22, 0)};
    runs(s, again, 1); /* it dies too */
    cr_assert_eq(again[0].deaths, 1);
    struct pw_run_start stale[] = {run_at(5, 48, true, 23, 0)};
    runs(s, stale, 1);
    cr_assert_not(stale[0].died);
    cr_assert_eq(stale[0].deaths, 0);
    cr_assert_eq(stale[0].stored, 50, "where the partition stands");
    struct pw_run_start next[] = {run_at(5, 50, true, 24, 0)};
    runs(s, next, 1);
    cr_assert(next[0].died, "the last run at the stored offset died");
    cr_assert_eq(next[0].deaths, 2, "and the stale run reset nothing");
    cr_assert_eq(next[0].stored, -1);
}

static struct pw_parked parked_behind(const char *post_id, const char *id)
{
    struct pw_parked p = {.code = PW_E_APPLY_FAILED, .partition = 2, .offset = 41};
    snprintf(p.post_id, sizeof p.post_id, "%s", post_id);
    snprintf(p.source, sizeof p.source, "/test");
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.topic, sizeof p.topic, "post-commands");
    return p;
}

static struct pw_origin origin_of(const char *value, int64_t offset)
{
    static const struct pw_header hs[] = {{"trace", "t-1", 3}, {"empty", NULL, 0}};
    return (struct pw_origin){.group = "g", .topic = "post-commands", .partition = 2,
                              .offset = offset, .timestamp_ms = 1700000000000 + offset,
                              .key = "p-1", .key_len = 3, .value = value,
                              .value_len = strlen(value), .headers = hs, .nheaders = 2};
}

static bool parked(struct pw_uow *uow, const char *post_id, struct pw_parked *p)
{
    bool found = false;
    struct pw_errbuf err;
    store_begin(uow);
    cr_assert_eq(pw_uow_parked_get(uow, post_id, p, &found, &err), PW_OK, "%s", err.msg);
    pw_uow_rollback(uow);
    return found;
}

static bool next_held(struct store *s, struct pw_held *h)
{
    bool found = false;
    struct pw_errbuf err;
    cr_assert_eq(pw_store_held_next(&s->st, h, &found, &err), PW_OK, "%s", err.msg);
    return found;
}

void store_case_a_post_parks_holds_in_order_and_drains_when_released(struct store *s)
{
    struct pw_errbuf err;
    struct pw_parked p = parked_behind("p-1", "c-9"), got;
    cr_assert_not(parked(&s->uow, "p-1", &got));
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_park(&s->uow, &p, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_parked_get(&s->uow, "p-1", &got, &(bool){0}, &err), PW_OK);
    pw_uow_rollback(&s->uow);
    cr_assert_not(parked(&s->uow2, "p-1", &got), "a rolled-back park leaves nothing");

    store_begin(&s->uow);
    cr_assert_eq(pw_uow_park(&s->uow, &p, &err), PW_OK, "%s", err.msg);
    store_commit(&s->uow);
    cr_assert(parked(&s->uow2, "p-1", &got), "seen from another connection");
    cr_assert_not(got.draining);
    cr_assert_str_eq(got.id, "c-9");
    cr_assert_str_eq(got.source, "/test");
    cr_assert_eq(got.code, PW_E_APPLY_FAILED);
    cr_assert_eq(got.partition, 2);
    cr_assert_eq(got.offset, 41);
    cr_assert_eq(got.held, 0);

    /* Two held, in order (the second had died twice); the same command again is held already. */
    struct pw_origin o1 = origin_of("{\"one\":1}", 42), o2 = origin_of("two", 43);
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_hold(&s->uow, "p-1", "/test", "c-10", &o1, 0, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_hold(&s->uow, "p-1", "/test", "c-11", &o2, 2, &err), PW_OK, "%s", err.msg);
    store_commit(&s->uow);
    bool found = false;
    store_begin(&s->uow2);
    cr_assert_eq(pw_uow_held_get(&s->uow2, "/test", "c-11", &found, &err), PW_OK);
    cr_assert(found);
    cr_assert_eq(pw_uow_held_get(&s->uow2, "/other", "c-11", &found, &err), PW_OK);
    cr_assert_not(found, "(source, id) is the command");
    pw_uow_rollback(&s->uow2);
    cr_assert(parked(&s->uow2, "p-1", &got));
    cr_assert_eq(got.held, 2);
    cr_assert_gt(got.oldest_ms, 0);

    /* Listed and counted; nothing to drain while it waits on its failed command. */
    struct pw_parked list[4];
    size_t n = 0;
    cr_assert_eq(pw_store_parked_list(&s->st, "", list, 4, &n, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(list[0].post_id, "p-1");
    cr_assert_eq(list[0].held, 2);
    cr_assert_eq(pw_store_parked_list(&s->st, "p-1", list, 4, &n, &err), PW_OK);
    cr_assert_eq(n, 0, "nothing after the last");
    struct pw_parking_stats st;
    cr_assert_eq(pw_store_parking_stats(&s->st, &st, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(st.posts, 1);
    cr_assert_eq(st.held, 2);
    struct pw_held h;
    cr_assert_not(next_held(s, &h));

    /* Released: its held commands run next, the oldest first, byte for byte. */
    struct pw_parked rel;
    cr_assert_eq(pw_store_release(&s->st, "p-1", true, &rel, &found, &err), PW_OK);
    cr_assert(found);
    cr_assert_not(next_held(s, &h), "a dry run releases nothing");
    cr_assert_eq(pw_store_release(&s->st, "p-1", false, &rel, &found, &err), PW_OK, "%s", err.msg);
    cr_assert(found);
    cr_assert_str_eq(rel.id, "c-9");
    cr_assert_eq(pw_store_release(&s->st, "p-1", false, &rel, &found, &err), PW_OK);
    cr_assert_not(found, "released already");
    store_begin(&s->uow);
    bool seen = false;
    enum pw_err first;
    cr_assert_eq(pw_uow_inbox_get(&s->uow, "/test", "c-9", &seen, &first, NULL), PW_OK);
    pw_uow_rollback(&s->uow);
    cr_assert(seen, "given up: sent again, the failed command is a duplicate");
    cr_assert_eq(first, PW_E_APPLY_FAILED);
    cr_assert(next_held(s, &h));
    cr_assert_str_eq(h.post_id, "p-1");
    struct pw_dead_letter want = {.origin = o1}, gotdl = {.origin = h.origin};
    assert_dead_letter_eq(&gotdl, &want);
    cr_assert_eq(h.deaths, 0);
    uint64_t first_seq = h.seq;
    pw_held_release(&h);
    cr_assert(next_held(s, &h));
    cr_assert_eq(h.seq, first_seq, "the same one until it is done with");
    pw_held_release(&h);

    store_begin(&s->uow);
    cr_assert_eq(pw_uow_held_done(&s->uow, first_seq, &err), PW_OK, "%s", err.msg);
    store_commit(&s->uow);
    cr_assert(next_held(s, &h));
    cr_assert_gt(h.seq, first_seq);
    cr_assert_eq(h.origin.value_len, 3);
    cr_assert_eq(memcmp(h.origin.value, "two", 3), 0);
    cr_assert_eq(h.deaths, 2, "its deaths before it was held, kept");
    uint64_t second = h.seq;
    pw_held_release(&h);
    cr_assert(parked(&s->uow2, "p-1", &got), "parked while one is held");
    cr_assert(got.draining);
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_held_done(&s->uow, second, &err), PW_OK, "%s", err.msg);
    store_commit(&s->uow);
    cr_assert_not(parked(&s->uow2, "p-1", &got), "drained: parked no more");
    cr_assert_not(next_held(s, &h));
    cr_assert_eq(pw_store_parking_stats(&s->st, &st, &err), PW_OK);
    cr_assert_eq(st.posts, 0);
    cr_assert_eq(st.held, 0);
    store_begin(&s->uow2);
    cr_assert_eq(pw_uow_held_get(&s->uow2, "/test", "c-11", &found, &err), PW_OK);
    pw_uow_rollback(&s->uow2);
    cr_assert_not(found, "no longer held");
}

/*
 * The held command whose run was the last one started at the held
 * commands' place comes first while it is held, ended or not, even when an
 * older one's post starts draining: else that run's deaths are lost when
 * the older one's run moves the place on.
 */
void store_case_the_held_command_last_started_comes_next_until_it_is_done(struct store *s)
{
    struct pw_errbuf err;
    struct pw_parked pa = parked_behind("p-a", "c-a"), pb = parked_behind("p-b", "c-b");
    struct pw_origin oa = origin_of("a", 50), ob = origin_of("b", 51);
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_park(&s->uow, &pa, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_park(&s->uow, &pb, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_hold(&s->uow, "p-a", "/test", "c-a1", &oa, 0, &err), PW_OK, "%s",
                 err.msg);
    cr_assert_eq(pw_uow_hold(&s->uow, "p-b", "/test", "c-b1", &ob, 0, &err), PW_OK, "%s",
                 err.msg);
    store_commit(&s->uow);
    bool found = false;
    struct pw_parked rel;
    cr_assert_eq(pw_store_release(&s->st, "p-b", false, &rel, &found, &err), PW_OK, "%s", err.msg);
    struct pw_held h;
    cr_assert(next_held(s, &h));
    uint64_t b1 = h.seq;
    pw_held_release(&h);
    struct pw_run_start r = run_at(PW_HELD_PARTITION, (int64_t)b1, true, 7, 0);
    runs(s, &r, 1);
    /* p-a's older command starts draining: b1's run comes first all the same. */
    cr_assert_eq(pw_store_release(&s->st, "p-a", false, &rel, &found, &err), PW_OK, "%s", err.msg);
    cr_assert(next_held(s, &h));
    cr_assert_eq(h.seq, b1, "the run started last, not the one held longest");
    pw_held_release(&h);
    /* Ended alive (a transient failure, a clean stop): still held, still first. */
    cr_assert_eq(pw_store_runs_end(&s->st, &r, 1, &err), PW_OK, "%s", err.msg);
    cr_assert(next_held(s, &h));
    cr_assert_eq(h.seq, b1);
    pw_held_release(&h);
    /* Done with: the one held longest. */
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_held_done(&s->uow, b1, &err), PW_OK, "%s", err.msg);
    store_commit(&s->uow);
    cr_assert(next_held(s, &h));
    cr_assert_lt(h.seq, b1);
    cr_assert_eq(memcmp(h.origin.value, "a", 1), 0);
    pw_held_release(&h);
}

void store_case_a_hold_behind_a_post_no_longer_parked_fails_the_commit(struct store *s)
{
    struct pw_errbuf err;
    struct pw_parked p = parked_behind("p-2", "c-1");
    /* Undecoded, the failed message is known by its value. */
    p.id[0] = p.source[0] = '\0';
    p.value = "\x01\x00raw";
    p.value_len = 5;
    p.code = PW_E_MAX_ATTEMPTS;
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_park(&s->uow, &p, &err), PW_OK, "%s", err.msg);
    store_commit(&s->uow);
    struct pw_parked got;
    bool found = false;
    store_begin(&s->uow2);
    cr_assert_eq(pw_uow_parked_get(&s->uow2, "p-2", &got, &found, &err), PW_OK);
    cr_assert(found);
    cr_assert_eq(got.value_len, 5);
    cr_assert_eq(memcmp(got.value, "\x01\x00raw", 5), 0, "its value lives as long as the transaction");
    cr_assert_str_eq(got.id, "");
    pw_uow_rollback(&s->uow2);

    /* One transaction reads it parked and holds a command; meanwhile another drains it. */
    struct pw_origin o = origin_of("late", 50);
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_parked_get(&s->uow, "p-2", &got, &found, &err), PW_OK);
    cr_assert(found);
    store_begin(&s->uow2);
    cr_assert_eq(pw_uow_unpark(&s->uow2, "p-2", &err), PW_OK, "%s", err.msg);
    store_commit(&s->uow2);
    enum pw_err rc = pw_uow_hold(&s->uow, "p-2", "/test", "c-2", &o, 0, &err);
    if (rc == PW_OK)
        rc = pw_uow_commit(&s->uow, &err);
    else
        pw_uow_rollback(&s->uow);
    cr_assert_eq(rc, PW_E_TRANSIENT, "held behind a post no longer parked: %s", err.msg);
    cr_assert_not(parked(&s->uow2, "p-2", &got));
    store_begin(&s->uow2);
    cr_assert_eq(pw_uow_held_get(&s->uow2, "/test", "c-2", &found, &err), PW_OK);
    pw_uow_rollback(&s->uow2);
    cr_assert_not(found, "nothing is held");
}

/*
 * Two workers' handles: the first to ask drains, the other finds nothing
 * to run, so that no two live processes run one held command at once.
 */
void store_case_one_store_handle_drains_at_a_time(struct store *s)
{
    struct pw_errbuf err;
    struct pw_parked p = parked_behind("p-3", "c-1");
    struct pw_origin o = origin_of("held", 60);
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_park(&s->uow, &p, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_hold(&s->uow, "p-3", "/test", "c-2", &o, 0, &err), PW_OK, "%s", err.msg);
    store_commit(&s->uow);
    bool found = false;
    cr_assert_eq(pw_store_release(&s->st2, "p-3", false, &p, &found, &err), PW_OK, "%s", err.msg);
    cr_assert(found);
    struct pw_held h;
    cr_assert(next_held(s, &h), "the first to ask drains");
    uint64_t seq = h.seq;
    pw_held_release(&h);
    cr_assert_eq(pw_store_held_next(&s->st2, &h, &found, &err), PW_OK, "%s", err.msg);
    cr_assert_not(found, "the other finds nothing while the first drains");
    cr_assert(next_held(s, &h), "and the first goes on");
    pw_held_release(&h);
    /* Done by one transaction, the same held command is no longer there for another. */
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_held_done(&s->uow, seq, &err), PW_OK, "%s", err.msg);
    store_commit(&s->uow);
    store_begin(&s->uow2);
    cr_assert_eq(pw_uow_held_done(&s->uow2, seq, &err), PW_E_TRANSIENT,
                 "run by another transaction");
    pw_uow_rollback(&s->uow2);
}

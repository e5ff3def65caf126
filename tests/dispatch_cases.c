/*
 * The dispatch contract: every outcome, the inbox, deterministic event ids,
 * rollback on a failure at any port call, dead letters that commit with
 * what they belong to, and the relay that publishes after commit. Each case
 * is a function of a world, run on every store (dispatch_inmem::...,
 * dispatch_pg::...) by DISPATCH_CONTRACT_SUITE.
 */
#include "tests/dispatch_contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/fault/fault.h"

void dispatch_run(const struct store_adapter *adapter, void (*fn)(struct world *w))
{
    struct world w;
    world_open_on(&w, adapter);
    fn(&w);
    world_close(&w);
}

void dispatch_case_create_applies_and_its_event_carries_the_whole_post(struct world *w)
{
    struct pw_cmd cmd = cmd_create("c-7f3a9", "hello-world", T0);
    struct pw_outcome out;
    cr_assert_eq(world_dispatch(w, &cmd, &out), PW_OUTCOME_APPLIED, "%s", out.err.msg);
    cr_assert_eq(out.nevents, 1);
    cr_assert_eq(out.event, PW_EVENT_POST_CREATED);
    cr_assert_eq(out.version, 1);
    size_t n;
    const struct pw_event *ev = world_published(w, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(ev->type, PW_EVENT_POST_CREATED);
    cr_assert_eq(strlen(ev->id), 36);
    cr_assert_eq(ev->id[14], '5', "a version 5 UUID");
    cr_assert_str_eq(ev->causation_id, "c-7f3a9");
    cr_assert_str_eq(ev->correlation_id, "c-7f3a9", "correlation defaults to the command id");
    cr_assert_eq(ev->time, T0);
    cr_assert_str_eq(ev->post.post_id, "hello-world");
    cr_assert_str_eq(ev->post.author_name, "Ada");
    cr_assert_str_eq(ev->post.title, "Hello");
    cr_assert_str_eq(ev->post.body, "First post");
    cr_assert_eq(ev->post.version, 1);
    cr_assert_eq(ev->post.deleted_at, PW_TIME_NONE);
}

void dispatch_case_update_and_delete_apply_in_order_with_versions(struct world *w)
{
    cr_assert_eq(world_run(w, cmd_create("c1", "p1", T0), NULL), PW_OUTCOME_APPLIED);
    struct pw_cmd up = cmd_update("c2", "p1", "Second", 1, T0 + 10);
    strcpy(up.env.correlation_id, "flow-9");
    cr_assert_eq(world_run(w, up, NULL), PW_OUTCOME_APPLIED);
    cr_assert_eq(world_run(w, cmd_delete("c3", "p1", 2, T0 + 20), NULL), PW_OUTCOME_APPLIED);
    size_t n;
    const struct pw_event *evs = world_published(w, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(evs[0].type, PW_EVENT_POST_CREATED);
    cr_assert_eq(evs[1].type, PW_EVENT_POST_UPDATED);
    cr_assert_str_eq(evs[1].post.title, "Second");
    cr_assert_eq(evs[1].post.version, 2);
    cr_assert_eq(evs[1].post.updated_at, T0 + 10);
    cr_assert_str_eq(evs[1].correlation_id, "flow-9");
    cr_assert_str_eq(evs[1].causation_id, "c2");
    cr_assert_eq(evs[2].type, PW_EVENT_POST_DELETED);
    cr_assert_eq(evs[2].post.version, 3);
    cr_assert_eq(evs[2].post.deleted_at, T0 + 20);
    cr_assert_str_eq(evs[2].post.title, "Second", "a deleted post keeps its fields");
}

void dispatch_case_every_business_rule_rejects_with_its_code(struct world *w)
{
    cr_assert_eq(world_run(w, cmd_create("c1", "p1", T0), NULL), PW_OUTCOME_APPLIED);
    cr_assert_eq(world_run(w, cmd_create("c0", "gone", T0), NULL), PW_OUTCOME_APPLIED);
    cr_assert_eq(world_run(w, cmd_delete("c00", "gone", 0, T0), NULL), PW_OUTCOME_APPLIED);
    static const struct {
        const char *id, *post_id;
        int type; /* 0 create, 1 update, 2 delete */
        int64_t expected;
        enum pw_err code;
    } cases[] = {
        {"r1", "p1", 0, 0, PW_E_ALREADY_EXISTS},
        {"r2", "gone", 0, 0, PW_E_ALREADY_EXISTS}, /* deleted or not */
        {"r3", "nope", 1, 0, PW_E_NOT_FOUND},
        {"r4", "nope", 2, 0, PW_E_NOT_FOUND},
        {"r5", "gone", 1, 0, PW_E_POST_DELETED},
        {"r6", "gone", 2, 0, PW_E_POST_DELETED},
        {"r7", "p1", 1, 5, PW_E_VERSION_CONFLICT},
        {"r8", "p1", 2, 2, PW_E_VERSION_CONFLICT},
        {"r9", "bad id", 0, 0, PW_E_VALIDATION_FAILED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pw_cmd cmd = cases[i].type == 0 ? cmd_create(cases[i].id, cases[i].post_id, T0)
                            : cases[i].type == 1
                                ? cmd_update(cases[i].id, cases[i].post_id, "t", cases[i].expected, T0)
                                : cmd_delete(cases[i].id, cases[i].post_id, cases[i].expected, T0);
        enum pw_err code;
        cr_assert_eq(world_run(w, cmd, &code), PW_OUTCOME_REJECTED, "case %zu", i);
        cr_assert_eq(code, cases[i].code, "case %zu: %s", i, pw_err_name(code));
    }
    size_t n;
    world_published(w, &n);
    cr_assert_eq(n, 3, "rejections publish nothing");
}

void dispatch_case_the_same_command_again_is_a_duplicate_and_publishes_nothing(struct world *w)
{
    struct pw_cmd cmd = cmd_create("c1", "p1", T0);
    cr_assert_eq(world_run(w, cmd, NULL), PW_OUTCOME_APPLIED);
    enum pw_err first;
    cr_assert_eq(world_run(w, cmd, &first), PW_OUTCOME_DUPLICATE);
    cr_assert_eq(first, PW_OK, "the duplicate reports the first outcome: applied");
    size_t n;
    world_published(w, &n);
    cr_assert_eq(n, 1);
    /* The same id from another source is another command. */
    struct pw_cmd other = cmd_update("c1", "p1", "x", 0, T0);
    strcpy(other.env.source, "/elsewhere");
    cr_assert_eq(world_run(w, other, NULL), PW_OUTCOME_APPLIED);
}

void dispatch_case_a_rejected_command_is_marked_and_rejected_only_once(struct world *w)
{
    struct pw_cmd cmd = cmd_update("c1", "missing", "x", 0, T0);
    enum pw_err code;
    cr_assert_eq(world_run(w, cmd, &code), PW_OUTCOME_REJECTED);
    cr_assert_eq(code, PW_E_NOT_FOUND);
    /* Even once the post exists, the redelivered command stays what it was. */
    cr_assert_eq(world_run(w, cmd_create("c2", "missing", T0), NULL), PW_OUTCOME_APPLIED);
    cr_assert_eq(world_run(w, cmd, &code), PW_OUTCOME_DUPLICATE);
    cr_assert_eq(code, PW_E_NOT_FOUND);
}

void dispatch_case_a_command_type_without_handler_is_unknown_type_and_not_marked(struct world *w)
{
    pw_registry_add(&w->app.reg, PW_CMD_DELETE_POST, NULL);
    enum pw_err code;
    struct pw_cmd cmd = cmd_delete("c1", "p1", 0, T0);
    cr_assert_eq(world_run(w, cmd, &code), PW_OUTCOME_REJECTED);
    cr_assert_eq(code, PW_E_UNKNOWN_TYPE);
    pw_posts_register(&w->app.reg);
    cr_assert_eq(world_run(w, cmd, &code), PW_OUTCOME_REJECTED);
    cr_assert_eq(code, PW_E_NOT_FOUND, "it was not marked, so it runs once a handler exists");
}

void dispatch_case_a_batch_applies_a_repeated_command_once(struct world *w)
{
    struct pw_cmd cmds[] = {cmd_create("c1", "p1", T0), cmd_create("c1", "p1", T0),
                            cmd_update("c2", "p1", "two", 1, T0 + 1),
                            cmd_update("c3", "p1", "three", 2, T0 + 2)};
    struct pw_outcome outs[4];
    struct pw_offset off = {.group = "g", .topic = "post-commands", .partition = 0, .next = 4};
    struct pw_input *in = inputs_of(cmds, 4);
    cr_assert_eq(pw_dispatch_batch(&w->app, in, 4, &off, 1, false, outs, NULL, NULL), PW_OK);
    free(in);
    cr_assert_eq(outs[0].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(outs[1].kind, PW_OUTCOME_DUPLICATE);
    cr_assert_eq(outs[2].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(outs[3].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(outs[3].version, 3);
    int64_t next;
    cr_assert_eq(pw_store_offset_get(&w->st, "g", "post-commands", 0, &next, NULL), PW_OK);
    cr_assert_eq(next, 4, "the offset commits with the batch");
}

void dispatch_case_event_ids_derive_from_source_id_and_position_alone(struct world *w)
{
    struct world other;
    world_open_like(&other, w);
    struct pw_outcome a, b;
    struct pw_cmd cmd = cmd_create("c1", "p1", T0);
    world_dispatch(w, &cmd, &a);
    cmd.env.time = T0 + 999; /* a replay at another time: same id */
    world_dispatch(&other, &cmd, &b);
    size_t na, nb;
    const struct pw_event *ea = world_published(w, &na), *eb = world_published(&other, &nb);
    cr_assert_eq(na, 1);
    cr_assert_eq(nb, 1);
    cr_assert_str_eq(ea[0].id, eb[0].id);
    world_close(&other);

    /* Different inputs never collide, even where plain concatenation would. */
    static const struct {
        const char *source, *id;
        unsigned index;
    } in[] = {{"/a/b", "c", 0}, {"/a/", "bc", 0}, {"/a/b", "c", 1}, {"/a/bc", "", 0},
              {"/x", "c1", 0}, {"/x", "c10", 0}, {"/x1", "0", 0}};
    char ids[7][PW_EVENT_ID_LEN + 1];
    for (size_t i = 0; i < 7; i++)
        pw_ids_event_id(&w->ids, in[i].source, in[i].id, in[i].index, ids[i]);
    for (size_t i = 0; i < 7; i++)
        for (size_t j = i + 1; j < 7; j++)
            cr_assert_str_neq(ids[i], ids[j], "%zu and %zu", i, j);
    char again[PW_EVENT_ID_LEN + 1];
    pw_ids_event_id(&w->ids, "/a/b", "c", 0, again);
    cr_assert_str_eq(again, ids[0]);
}

/* Snapshot of what a store holds, to compare before and after a failed batch. */
static void assert_store_holds(struct world *x, const char *post_id, int64_t version)
{
    struct pw_post post = {0};
    cr_assert_eq(pw_uow_begin(&x->uow, NULL), PW_OK);
    struct pw_repo repo = pw_uow_posts(&x->uow);
    enum pw_err rc = pw_repo_get(&repo, post_id, &post, NULL);
    pw_uow_rollback(&x->uow);
    if (version == 0) {
        cr_assert_eq(rc, PW_E_NOT_FOUND, "%s should not exist", post_id);
    } else {
        cr_assert_eq(rc, PW_OK);
        cr_assert_eq(post.version, version, "%s", post_id);
    }
    pw_post_release(&post);
}

void dispatch_case_a_failure_at_any_port_call_rolls_back_the_whole_batch(struct world *w)
{
    struct pw_cmd cmds[] = {cmd_create("c1", "p1", T0), cmd_create("c2", "p2", T0),
                            cmd_update("c3", "p1", "t", 0, T0), cmd_update("c4", "zz", "t", 0, T0)};
    struct pw_input *in = inputs_of(cmds, 4);
    /* Count the calls a clean run makes, then fail each one in turn. */
    unsigned calls;
    {
        struct world x;
        world_open_like(&x, w);
        struct pw_fault plan = {0};
        struct pw_uow faulty;
        cr_assert_eq(pw_fault_uow_open(&faulty, &x.uow, &plan), PW_OK);
        x.app.uow = &faulty;
        struct pw_outcome outs[4];
        cr_assert_eq(pw_dispatch_batch(&x.app, in, 4, NULL, 0, false, outs, NULL, NULL), PW_OK);
        calls = plan.calls;
        pw_uow_close(&faulty);
        world_close(&x);
    }
    cr_assert_gt(calls, 10);
    for (unsigned nth = 1; nth <= calls; nth++) {
        struct world x;
        world_open_like(&x, w);
        struct pw_fault plan = {.nth = nth};
        struct pw_uow faulty;
        cr_assert_eq(pw_fault_uow_open(&faulty, &x.uow, &plan), PW_OK);
        x.app.uow = &faulty;
        struct pw_outcome outs[4];
        struct pw_errbuf err;
        cr_assert_eq(pw_dispatch_batch(&x.app, in, 4, NULL, 0, false, outs, NULL, &err), PW_E_TRANSIENT,
                     "call %u", nth);
        for (int i = 0; i < 4; i++) {
            cr_assert_eq(outs[i].kind, PW_OUTCOME_RETRY);
            cr_assert_eq(outs[i].nevents, 0);
        }
        assert_store_holds(&x, "p1", 0);
        assert_store_holds(&x, "p2", 0);
        size_t n;
        world_published(&x, &n);
        cr_assert_eq(n, 0, "call %u: nothing published", nth);
        const struct pw_out *dls[4];
        cr_assert_eq(world_dead_letters(&x, dls, 4), 0, "call %u: no dead letter", nth);
        /* The same batch again (the fault was once) applies it all, once. */
        cr_assert_eq(pw_dispatch_batch(&x.app, in, 4, NULL, 0, false, outs, NULL, NULL), PW_OK, "call %u", nth);
        cr_assert_eq(outs[3].kind, PW_OUTCOME_REJECTED);
        assert_store_holds(&x, "p1", 2);
        world_published(&x, &n);
        cr_assert_eq(n, 3);
        cr_assert_eq(world_dead_letters(&x, dls, 4), 1, "call %u: the rejection's dead letter, once",
                     nth);
        pw_uow_close(&faulty);
        world_close(&x);
    }
    free(in);
}

void dispatch_case_the_relay_keeps_events_the_bus_failed_and_publishes_them_in_order_later(struct world *w)
{
    struct pw_fault plan = {.nth = 2};
    struct pw_bus faulty;
    cr_assert_eq(pw_fault_bus_open(&faulty, &w->bus, &plan), PW_OK);
    struct pw_relay relay;
    cr_assert_eq(pw_relay_init(&relay, &w->outbox, &faulty, 2, 100), PW_OK);
    char id[8];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "c%d", i);
        struct pw_cmd cmd = i == 0 ? cmd_create(id, "p1", T0) : cmd_update(id, "p1", "t", i, T0);
        cr_assert_eq(world_run(w, cmd, NULL), PW_OUTCOME_APPLIED);
    }
    size_t published = 9, n;
    cr_assert_eq(pw_relay_drain(&relay, &published, NULL), PW_E_TRANSIENT);
    cr_assert_eq(published, 0);
    pw_inmem_bus_events(&w->bus, &n);
    cr_assert_eq(n, 0, "nothing acknowledged");
    cr_assert_eq(pw_relay_drain(&relay, &published, NULL), PW_OK);
    cr_assert_eq(published, 5);
    /*
     * The event queued before the failure is still on the bus and goes out
     * too: at least once, so 6 deliveries, never out of order.
     */
    const struct pw_event *evs = pw_inmem_bus_events(&w->bus, &n);
    cr_assert_eq(n, 6);
    int64_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_geq(evs[i].post.version, seen, "in commit order");
        cr_assert_leq(evs[i].post.version, seen + 1, "nothing skipped");
        seen = evs[i].post.version;
    }
    cr_assert_eq(seen, 5);
    pw_relay_release(&relay);
    pw_bus_close(&faulty);
}

void dispatch_case_a_dead_letter_commits_with_its_mark_and_a_rolled_back_batch_leaves_neither(struct world *w)
{
    static const char value[] = "{not json";
    const struct pw_header hs[] = {{"trace", "t-1", 3}};
    struct pw_cmd cmds[3] = {cmd_create("c1", "p1", T0), cmd_update("c2", "nope", "t", 0, T0)};
    struct pw_input *in = inputs_of(cmds, 3);
    in[2].origin = (struct pw_origin){.group = "g", .topic = "post-commands", .partition = 2,
                                      .offset = 41, .timestamp_ms = 1795168800000, .key = "k",
                                      .key_len = 1, .value = value, .value_len = sizeof value - 1,
                                      .headers = hs, .nheaders = 1};
    pw_err_set(&in[2].decoded, PW_E_INVALID_JSON, "not JSON");
    /* The commit fails (the process dies between dispatch and commit, say). */
    struct pw_fault plan = {0};
    struct pw_uow faulty;
    cr_assert_eq(pw_fault_uow_open(&faulty, &w->uow, &plan), PW_OK);
    w->app.uow = &faulty;
    struct pw_outcome outs[3];
    cr_assert_eq(pw_dispatch_batch(&w->app, in, 3, NULL, 0, false, outs, NULL, NULL), PW_OK);
    unsigned commit_call = plan.calls; /* commit is the last call of a batch */
    const struct store_adapter *adapter = w->adapter;
    world_close(w);
    world_open_on(w, adapter);
    plan = (struct pw_fault){.nth = commit_call};
    pw_uow_close(&faulty);
    cr_assert_eq(pw_fault_uow_open(&faulty, &w->uow, &plan), PW_OK);
    w->app.uow = &faulty;
    cr_assert_eq(pw_dispatch_batch(&w->app, in, 3, NULL, 0, false, outs, NULL, NULL), PW_E_TRANSIENT);
    size_t n;
    world_published(w, &n);
    cr_assert_eq(n, 0);
    const struct pw_out *dl[4];
    cr_assert_eq(world_dead_letters(w, dl, 4), 0, "a rolled-back batch leaves no dead letter");
    bool found = true;
    enum pw_err first;
    cr_assert_eq(pw_uow_begin(&w->uow, NULL), PW_OK);
    cr_assert_eq(pw_uow_inbox_get(&w->uow, "/test", "c2", &found, &first, NULL), PW_OK);
    pw_uow_rollback(&w->uow);
    cr_assert_not(found, "nor the rejection's mark");

    /* The redelivery commits both, and the relay publishes the dead letters after it. */
    cr_assert_eq(pw_dispatch_batch(&w->app, in, 3, NULL, 0, false, outs, NULL, NULL), PW_OK);
    cr_assert_eq(outs[1].kind, PW_OUTCOME_REJECTED);
    cr_assert_eq(outs[2].kind, PW_OUTCOME_REJECTED);
    cr_assert_eq(outs[2].err.code, PW_E_INVALID_JSON);
    world_published(w, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(world_dead_letters(w, dl, 4), 2);
    cr_assert_str_eq(dl[0]->topic, "post-commands.dlq");
    cr_assert_eq(dl[0]->dl.code, PW_E_NOT_FOUND);
    cr_assert_eq(dl[1]->dl.code, PW_E_INVALID_JSON);
    cr_assert_eq(dl[1]->dl.origin.offset, 41);
    cr_assert_eq(dl[1]->dl.origin.value_len, sizeof value - 1);
    cr_assert_eq(memcmp(dl[1]->dl.origin.value, value, sizeof value - 1), 0);
    cr_assert_str_eq(dl[1]->dl.origin.headers[0].name, "trace");
    cr_assert_eq(pw_uow_begin(&w->uow, NULL), PW_OK);
    cr_assert_eq(pw_uow_inbox_get(&w->uow, "/test", "c2", &found, &first, NULL), PW_OK);
    pw_uow_rollback(&w->uow);
    cr_assert(found);
    cr_assert_eq(first, PW_E_NOT_FOUND);
    pw_uow_close(&faulty);
    free(in);
}

void dispatch_case_a_pending_relay_round_is_confirmed_before_the_next_is_read(struct world *w)
{
    struct pw_relay relay;
    cr_assert_eq(pw_relay_init(&relay, &w->outbox, &w->bus, 2, 100), PW_OK);
    char id[8];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "c%d", i);
        cr_assert_eq(world_run(w, cmd_create(id, id, T0), NULL), PW_OUTCOME_APPLIED);
    }
    size_t confirmed = 9, n;
    bool more = false;
    cr_assert_eq(pw_relay_send(&relay, &confirmed, &more, NULL), PW_OK);
    cr_assert_eq(confirmed, 0);
    cr_assert(more, "a full round: the outbox may hold more");
    pw_inmem_bus_events(&w->bus, &n);
    cr_assert_eq(n, 0, "published, not yet acknowledged");

    cr_assert_eq(pw_relay_send(&relay, &confirmed, &more, NULL), PW_OK);
    cr_assert_eq(confirmed, 2, "the pending round is confirmed first");
    cr_assert_not(more);
    cr_assert_eq(pw_relay_confirm(&relay, &confirmed, NULL), PW_OK);
    cr_assert_eq(confirmed, 1);
    const struct pw_event *evs = pw_inmem_bus_events(&w->bus, &n);
    cr_assert_eq(n, 3, "each event once: the pending round was not read again");
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "c%d", i);
        cr_assert_str_eq(evs[i].causation_id, id, "in commit order");
    }
    size_t left;
    cr_assert_eq(pw_relay_drain(&relay, &left, NULL), PW_OK);
    cr_assert_eq(left, 0, "the outbox is empty");
    pw_relay_release(&relay);
}

void dispatch_case_a_batch_spanning_a_thousand_partitions_stores_every_offset(struct world *w)
{
    enum { N = 1000 };
    struct pw_cmd *cmds = calloc(N, sizeof *cmds);
    struct pw_offset *offs = calloc(N, sizeof *offs);
    struct pw_outcome *outs = calloc(N, sizeof *outs);
    char (*ids)[16] = calloc(N, sizeof *ids);
    cr_assert(cmds && offs && outs && ids);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "p%d", i);
        cmds[i] = cmd_create(ids[i], ids[i], T0);
        offs[i] = (struct pw_offset){.group = "g", .topic = "post-commands", .partition = i,
                                     .next = 10 + i};
    }
    struct pw_input *in = inputs_of(cmds, N);
    struct pw_errbuf err;
    cr_assert_eq(pw_dispatch_batch(&w->app, in, N, offs, N, false, outs, NULL, &err), PW_OK, "%s", err.msg);
    for (int i = 0; i < N; i++)
        cr_assert_eq(outs[i].kind, PW_OUTCOME_APPLIED, "command %d", i);
    for (int i = 0; i < N; i += 99) {
        int64_t next = 0;
        cr_assert_eq(pw_store_offset_get(&w->st, "g", "post-commands", i, &next, NULL), PW_OK);
        cr_assert_eq(next, 10 + i, "partition %d", i);
    }
    size_t n;
    world_published(w, &n);
    cr_assert_eq(n, N);
    free(in);
    free(ids);
    free(outs);
    free(offs);
    free(cmds);
}

void dispatch_case_a_prefetched_batch_sees_what_earlier_batches_and_its_own_commands_did(
    struct world *w)
{
    cr_assert_eq(world_run(w, cmd_create("c0", "old", T0), NULL), PW_OUTCOME_APPLIED);
    cr_assert_eq(world_run(w, cmd_update("c9", "gone", "t", 0, T0), NULL), PW_OUTCOME_REJECTED);
    struct pw_cmd cmds[] = {
        cmd_create("c1", "new", T0),              /* a miss the batch then creates */
        cmd_update("c2", "new", "two", 1, T0 + 1), /* sees its own batch's create */
        cmd_update("c3", "old", "two", 1, T0 + 2), /* sees an earlier batch's */
        cmd_create("c4", "old", T0 + 3),          /* already_exists from the prefetch */
        cmd_update("c9", "gone", "t", 0, T0),     /* the inbox mark, prefetched */
        cmd_update("c2", "new", "two", 1, T0 + 1), /* a repeat within the batch */
    };
    struct pw_input *in = inputs_of(cmds, 6);
    struct pw_outcome outs[6];
    struct pw_errbuf err;
    cr_assert_eq(pw_dispatch_batch(&w->app, in, 6, NULL, 0, false, outs, NULL, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(outs[0].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(outs[1].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(outs[1].version, 2);
    cr_assert_eq(outs[2].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(outs[2].version, 2);
    cr_assert_eq(outs[3].kind, PW_OUTCOME_REJECTED);
    cr_assert_eq(outs[3].err.code, PW_E_ALREADY_EXISTS);
    cr_assert_eq(outs[4].kind, PW_OUTCOME_DUPLICATE);
    cr_assert_eq(outs[4].err.code, PW_E_NOT_FOUND);
    cr_assert_eq(outs[5].kind, PW_OUTCOME_DUPLICATE);
    assert_store_holds(w, "new", 2);
    assert_store_holds(w, "old", 2);
    free(in);
}

void dispatch_case_a_dead_letter_whose_reason_holds_bad_bytes_still_commits(struct world *w)
{
    struct pw_cmd none[1] = {{0}};
    struct pw_input *in = inputs_of(none, 1);
    /* Written by hand, past pw_err_set's scrubbing: the dispatcher must not trust it. */
    in[0].decoded.code = PW_E_INVALID_JSON;
    strcpy(in[0].decoded.msg, "invalid escape near '\"\\\xc3' \x01\xff");
    struct pw_outcome out;
    struct pw_errbuf err;
    cr_assert_eq(pw_dispatch_batch(&w->app, in, 1, NULL, 0, false, &out, NULL, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(out.kind, PW_OUTCOME_REJECTED);
    size_t n;
    world_published(w, &n);
    const struct pw_out *dl[2];
    cr_assert_eq(world_dead_letters(w, dl, 2), 1);
    cr_assert_str_eq(dl[0]->dl.message, "invalid escape near '\"\\?' ??");
    free(in);
}

void dispatch_case_after_a_failed_confirm_the_next_round_waits_for_everything(struct world *w)
{
    struct pw_fault plan = {0};
    struct pw_bus faulty;
    cr_assert_eq(pw_fault_bus_open(&faulty, &w->bus, &plan), PW_OK);
    struct pw_relay relay;
    cr_assert_eq(pw_relay_init(&relay, &w->outbox, &faulty, 2, 100), PW_OK);
    char id[8];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "c%d", i);
        cr_assert_eq(world_run(w, cmd_create(id, id, T0), NULL), PW_OUTCOME_APPLIED);
    }
    size_t confirmed, n;
    bool more;
    cr_assert_eq(pw_relay_send(&relay, &confirmed, &more, NULL), PW_OK);
    plan = (struct pw_fault){.nth = 1}; /* the next call, the round's flush, fails */
    cr_assert_eq(pw_relay_send(&relay, &confirmed, &more, NULL), PW_E_TRANSIENT);
    /*
     * A caller that keeps offsets for the round in flight commits them after
     * the next success: so that success must mean everything is acknowledged.
     */
    cr_assert_eq(pw_relay_send(&relay, &confirmed, &more, NULL), PW_OK);
    cr_assert_not(more);
    pw_inmem_bus_events(&w->bus, &n);
    cr_assert_geq(n, 3, "every event acknowledged, not just sent");
    size_t left;
    cr_assert_eq(pw_relay_drain(&relay, &left, NULL), PW_OK);
    cr_assert_eq(left, 0, "nothing was left behind");
    pw_relay_release(&relay);
    pw_bus_close(&faulty);
}

/* An outbox that another worker writes to: each peek, it commits four more rows first. */
struct busy_outbox {
    struct pw_outbox *inner;
    struct pw_uow *writer;
    unsigned peeks;
};

static enum pw_err busy_peek(void *self, struct pw_out *outs, uint64_t *seqs, size_t max,
                             size_t *n, struct pw_errbuf *err)
{
    struct busy_outbox *b = self;
    store_begin(b->writer);
    for (int i = 0; i < 4; i++) {
        char post[32], cmd[32];
        snprintf(post, sizeof post, "busy-%u-%d", b->peeks, i);
        snprintf(cmd, sizeof cmd, "c-busy-%u-%d", b->peeks, i);
        struct pw_event ev = store_event_make(post, cmd);
        cr_assert_eq(pw_uow_outbox_put(b->writer, "post-events", &ev, NULL), PW_OK);
    }
    store_commit(b->writer);
    b->peeks++;
    cr_assert_lt(b->peeks, 100, "the drain should have ended long ago");
    return pw_outbox_peek(b->inner, outs, seqs, max, n, err);
}

static enum pw_err busy_high(void *self, uint64_t *seq, struct pw_errbuf *err)
{
    struct busy_outbox *b = self;
    return pw_outbox_high(b->inner, seq, err);
}

static enum pw_err busy_stats(void *self, int64_t *pending, int64_t *dead_letters,
                              int64_t *oldest_ms, struct pw_errbuf *err)
{
    struct busy_outbox *b = self;
    return pw_outbox_stats(b->inner, pending, dead_letters, oldest_ms, err);
}

static enum pw_err busy_remove(void *self, const uint64_t *seqs, size_t n, struct pw_errbuf *err)
{
    struct busy_outbox *b = self;
    return pw_outbox_remove(b->inner, seqs, n, err);
}

static void busy_close(void *self)
{
    (void)self;
}

static const struct pw_outbox_ops busy_ops = {
    .name = "busy", .peek = busy_peek, .high = busy_high, .stats = busy_stats, .remove = busy_remove,
    .close = busy_close};

void dispatch_case_a_drain_ends_while_others_keep_committing(struct world *w)
{
    /* What this worker committed: ten events. */
    for (int i = 0; i < 10; i++) {
        char post[16], cmd[16];
        snprintf(post, sizeof post, "own-%d", i);
        snprintf(cmd, sizeof cmd, "c-own-%d", i);
        cr_assert_eq(world_run(w, cmd_create(cmd, post, T0), NULL), PW_OUTCOME_APPLIED);
    }
    struct busy_outbox busy = {.inner = &w->outbox, .writer = &w->s.uow2};
    struct pw_outbox outbox = {.ops = &busy_ops, .self = &busy};
    struct pw_relay relay;
    cr_assert_eq(pw_relay_init(&relay, &outbox, &w->bus, 4, 1000), PW_OK);
    size_t published = 0;
    struct pw_errbuf err;
    cr_assert_eq(pw_relay_drain(&relay, &published, &err), PW_OK, "%s", err.msg);
    cr_assert_geq(published, 10, "everything committed before the drain is published");
    size_t n;
    const struct pw_event *evs = pw_inmem_bus_events(&w->bus, &n);
    size_t own = 0;
    for (size_t i = 0; i < n; i++)
        own += strncmp(evs[i].post.post_id, "own-", 4) == 0;
    cr_assert_eq(own, 10);
    pw_relay_release(&relay);
}


/* A replay reads malformed messages again: the one the stored offset passed was dead-lettered then. */
void dispatch_case_a_malformed_message_the_store_passed_is_not_dead_lettered_again(struct world *w)
{
    static const char value[] = "{nope";
    struct pw_cmd cmds[2] = {0};
    struct pw_input *in = inputs_of(cmds, 2);
    for (int i = 0; i < 2; i++) {
        in[i].origin = (struct pw_origin){.group = "g", .topic = "post-commands", .partition = 0,
                                          .offset = i ? 12 : 5, .value = value,
                                          .value_len = sizeof value - 1};
        pw_err_set(&in[i].decoded, PW_E_INVALID_JSON, "not JSON");
    }
    cr_assert_eq(pw_uow_begin(&w->uow, NULL), PW_OK);
    cr_assert_eq(pw_uow_offset_put(&w->uow, "g", "post-commands", 0, 10, NULL), PW_OK);
    cr_assert_eq(pw_uow_commit(&w->uow, NULL), PW_OK);
    struct pw_outcome outs[2];
    cr_assert_eq(pw_dispatch_batch(&w->app, in, 2, NULL, 0, false, outs, NULL, NULL), PW_OK);
    cr_assert_eq(outs[0].kind, PW_OUTCOME_DUPLICATE, "offset 5 is below the stored 10");
    cr_assert_eq(outs[1].kind, PW_OUTCOME_REJECTED, "offset 12 is new");
    size_t n;
    world_published(w, &n);
    const struct pw_out *dl[4];
    cr_assert_eq(world_dead_letters(w, dl, 4), 1);
    cr_assert_eq(dl[0]->dl.origin.offset, 12);
    free(in);
}

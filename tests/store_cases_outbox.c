/*
 * Store contract cases added with dead letters in the outbox and offsets
 * per group: what every adapter must do beyond posts and marks.
 */
#include "tests/store_contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers.h"

void store_case_dead_letters_keep_their_bytes_and_follow_their_events(struct store *s)
{
    static const char value[] = {'{', 0, '\xff', '"', '\\', '}'};
    static const char bin[] = {0, 1, 2, '\xfe'};
    const struct pw_header hs[] = {
        {"ce_id", "b-1", 3}, {"empty", "", 0}, {"null", NULL, 0}, {"bin", bin, sizeof bin}};
    struct pw_dead_letter dl = {
        .origin = {.group = "grp", .topic = "post-commands", .partition = 7, .offset = 123456789012,
                   .timestamp_ms = 1795168800123, .key = NULL, .key_len = 0, .value = value,
                   .value_len = sizeof value, .headers = hs, .nheaders = 4},
        .code = PW_E_INVALID_JSON,
        .message = "not JSON: 'quote \" and backslash \\'",
        .attempts = 1,
    };
    struct pw_event ev = store_event_make("p-1", "c1");
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_dead_letter_put(&s->uow, "dead", &dl, NULL), PW_OK);
    cr_assert_eq(pw_uow_outbox_put(&s->uow, "post-events", &ev, NULL), PW_OK);
    store_commit(&s->uow);

    struct pw_out outs[4];
    uint64_t seqs[4];
    size_t n = 0;
    struct pw_errbuf err;
    int64_t pending = 0, dead = 0, oldest = 0;
    cr_assert_eq(pw_outbox_stats(&s->outbox2, &pending, &dead, &oldest, &err), PW_OK, "%s",
                 err.msg);
    cr_assert_eq(pending, 2, "two rows wait");
    cr_assert_eq(dead, 1, "one of them a dead letter, counted apart");
    cr_assert_eq(pw_outbox_peek(&s->outbox, outs, seqs, 4, &n, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_assert_eq(outs[0].kind, PW_OUT_EVENT, "a transaction's events come first");
    cr_assert_eq(outs[1].kind, PW_OUT_DEAD_LETTER);
    cr_assert_str_eq(outs[1].topic, "dead");
    assert_dead_letter_eq(&outs[1].dl, &dl);
    for (size_t i = 0; i < n; i++)
        pw_out_release(&outs[i]);
    cr_assert_eq(pw_outbox_remove(&s->outbox, seqs, n, NULL), PW_OK);
}

/* An event with every field away from its usual values. */
static struct pw_event odd_event(void)
{
    struct pw_event ev = store_event_make("p-1", "c1");
    strcpy(ev.id, "0123abcd-ef45-5678-9abc-def012345678");
    ev.type = PW_EVENT_POST_DELETED;
    ev.index = 2;
    ev.time = PW_TIME_MIN;
    strcpy(ev.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    strcpy(ev.tracestate, "congo=t61rcWkgMzE");
    ev.post.version = 2147483647;
    ev.post.created_at = -1;
    ev.post.updated_at = PW_TIME_MAX;
    ev.post.deleted_at = (pw_time)946684800 * 1000000;
    return ev;
}

void store_case_an_event_comes_back_from_the_outbox_field_for_field(struct store *s)
{
    struct pw_event put = odd_event(), ev = odd_event();
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_outbox_put(&s->uow, "post-events", &put, NULL), PW_OK);
    store_commit(&s->uow);
    struct pw_out out;
    uint64_t seq;
    size_t n = 0;
    struct pw_errbuf err;
    cr_assert_eq(pw_outbox_peek(&s->outbox, &out, &seq, 1, &n, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_eq(out.kind, PW_OUT_EVENT);
    const struct pw_event *got = &out.ev;
    cr_assert_str_eq(got->id, ev.id);
    cr_assert_eq(got->type, ev.type);
    cr_assert_eq(got->index, 2);
    cr_assert_eq(got->time, PW_TIME_MIN);
    cr_assert_str_eq(got->source, ev.source);
    cr_assert_str_eq(got->causation_id, ev.causation_id);
    cr_assert_str_eq(got->correlation_id, ev.correlation_id);
    cr_assert_str_eq(got->traceparent, ev.traceparent);
    cr_assert_str_eq(got->tracestate, ev.tracestate);
    cr_assert_str_eq(got->post.post_id, "p-1");
    cr_assert_str_eq(got->post.author_name, ev.post.author_name);
    cr_assert_str_eq(got->post.title, ev.post.title);
    cr_assert_str_eq(got->post.body, ev.post.body);
    cr_assert_eq(got->post.version, 2147483647);
    cr_assert_eq(got->post.created_at, -1);
    cr_assert_eq(got->post.updated_at, PW_TIME_MAX);
    cr_assert_eq(got->post.deleted_at, (pw_time)946684800 * 1000000);
    pw_out_release(&out);
    cr_assert_eq(pw_outbox_remove(&s->outbox, &seq, 1, NULL), PW_OK);
    pw_event_release(&ev);
    pw_event_release(&put);
}

static int64_t offset_of(struct store *s, const char *group, int32_t partition)
{
    int64_t off = 0;
    struct pw_errbuf err;
    cr_assert_eq(pw_store_offset_get(&s->st, group, "post-commands", partition, &off, &err), PW_OK,
                 "%s", err.msg);
    return off;
}

static void put_offset(struct store *s, const char *group, int32_t partition, int64_t next)
{
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_offset_put(&s->uow, group, "post-commands", partition, next, NULL), PW_OK);
    store_commit(&s->uow);
}

void store_case_stored_offsets_are_per_group_and_never_move_backwards(struct store *s)
{
    put_offset(s, "blue", 0, 10);
    cr_assert_eq(offset_of(s, "blue", 0), 10);
    cr_assert_eq(offset_of(s, "green", 0), -1, "another group's offsets are its own");
    put_offset(s, "green", 0, 3);
    cr_assert_eq(offset_of(s, "green", 0), 3);
    cr_assert_eq(offset_of(s, "blue", 0), 10);
    put_offset(s, "blue", 0, 5);
    cr_assert_eq(offset_of(s, "blue", 0), 10, "a lower offset does not move it back");
    put_offset(s, "blue", 0, 11);
    cr_assert_eq(offset_of(s, "blue", 0), 11);
}

void store_case_a_transaction_stores_the_offsets_of_a_thousand_partitions(struct store *s)
{
    struct pw_errbuf err;
    store_begin(&s->uow);
    for (int32_t p = 0; p < 1000; p++)
        cr_assert_eq(pw_uow_offset_put(&s->uow, "g", "post-commands", p, 100 + p, &err), PW_OK,
                     "partition %d: %s", (int)p, err.msg);
    store_commit(&s->uow);
    for (int32_t p = 0; p < 1000; p += 37)
        cr_assert_eq(offset_of(s, "g", p), 100 + p);
    cr_assert_eq(offset_of(s, "g", 999), 1099);
}

void store_case_prefetched_reads_see_what_is_stored_and_what_is_not(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 1), got = {0};
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_add(&repo, &post, NULL), PW_OK);
    cr_assert_eq(pw_uow_inbox_put(&s->uow, "/test", "c1", PW_E_NOT_FOUND, "p1", 0, NULL), PW_OK);
    store_commit(&s->uow);

    struct pw_cmd a = cmd_update("c1", "p-1", "t", 1, T0), b = cmd_create("c2", "p-2", T0);
    const struct pw_cmd *cmds[] = {&a, &b, &a};
    struct pw_errbuf err;
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_prefetch(&s->uow, cmds, 3, &err), PW_OK, "%s", err.msg);
    repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_get(&repo, "p-1", &got, NULL), PW_OK);
    cr_assert_str_eq(got.title, post.title);
    cr_assert_eq(pw_repo_get(&repo, "p-2", &got, NULL), PW_E_NOT_FOUND);
    bool found = false;
    enum pw_err first = PW_OK;
    cr_assert_eq(pw_uow_inbox_get(&s->uow, "/test", "c1", &found, &first, NULL), PW_OK);
    cr_assert(found);
    cr_assert_eq(first, PW_E_NOT_FOUND);
    cr_assert_eq(pw_uow_inbox_get(&s->uow, "/test", "c2", &found, &first, NULL), PW_OK);
    cr_assert_not(found);
    struct pw_post p2 = store_post_make("p-2", 1);
    cr_assert_eq(pw_repo_add(&repo, &p2, NULL), PW_OK, "a prefetched miss can be added");
    store_commit(&s->uow);
    pw_post_release(&got);
    cr_assert_eq(pw_uow_begin(&s->uow2, NULL), PW_OK);
    struct pw_repo repo2 = pw_uow_posts(&s->uow2);
    cr_assert_eq(pw_repo_get(&repo2, "p-2", &got, NULL), PW_OK);
    pw_uow_rollback(&s->uow2);
    pw_post_release(&got);
    pw_post_release(&p2);
    pw_post_release(&post);
}

void store_case_a_round_of_large_dead_letters_stops_at_the_byte_cap(struct store *s)
{
    enum { BIG = 9 * 1024 * 1024 };
    char *value = malloc(BIG);
    cr_assert(value);
    memset(value, 'v', BIG);
    struct pw_dead_letter dl = {
        .origin = {.group = "g", .topic = "post-commands", .value = value, .value_len = BIG},
        .code = PW_E_TOO_LARGE,
        .message = "too large",
        .attempts = 1,
    };
    struct pw_errbuf err;
    store_begin(&s->uow);
    for (int i = 0; i < 3; i++) {
        dl.origin.offset = i;
        cr_assert_eq(pw_uow_dead_letter_put(&s->uow, "dead", &dl, &err), PW_OK, "%s", err.msg);
    }
    store_commit(&s->uow);
    free(value);

    struct pw_out outs[8];
    uint64_t seqs[8];
    size_t n = 0;
    cr_assert_eq(pw_outbox_peek(&s->outbox, outs, seqs, 8, &n, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(n, 2, "9 MiB, then 18: the round ends past %u bytes", PW_OUT_ROUND_BYTES);
    cr_assert_eq(outs[0].dl.origin.offset, 0);
    cr_assert_eq(outs[1].dl.origin.value_len, BIG);
    for (size_t i = 0; i < n; i++)
        pw_out_release(&outs[i]);
    cr_assert_eq(pw_outbox_remove(&s->outbox, seqs, n, NULL), PW_OK);
    cr_assert_eq(pw_outbox_peek(&s->outbox, outs, seqs, 8, &n, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(n, 1, "the rest in the next round");
    cr_assert_eq(outs[0].dl.origin.offset, 2);
    pw_out_release(&outs[0]);
    cr_assert_eq(pw_outbox_remove(&s->outbox, seqs, n, NULL), PW_OK);
}

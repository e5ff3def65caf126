/*
 * The store contract's cases. Each takes a fresh store; post ids need not
 * be unique across cases because every case gets its own store.
 */
#include "tests/store_contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/helpers.h"

void store_run(const struct store_adapter *adapter, void (*fn)(struct store *s))
{
    struct store s;
    memset(&s, 0, sizeof s);
    adapter->open(&s);
    fn(&s);
    adapter->close(&s);
}

struct pw_post store_post_make(const char *post_id, int64_t version)
{
    struct pw_post post = {0};
    strcpy(post.post_id, post_id);
    post.author_name = strdup("Ada Lovelace");
    post.title = strdup("Héllo, wörld ✓");
    post.body = strdup("Body with \"quotes\", a tab\t and emoji 🎉");
    post.version = version;
    post.created_at = T0;
    post.updated_at = T0 + 1500000;
    post.deleted_at = PW_TIME_NONE;
    return post;
}

void store_begin(struct pw_uow *uow)
{
    struct pw_errbuf err;
    cr_assert_eq(pw_uow_begin(uow, &err), PW_OK, "begin: %s", err.msg);
}

void store_commit(struct pw_uow *uow)
{
    struct pw_errbuf err;
    cr_assert_eq(pw_uow_commit(uow, &err), PW_OK, "commit: %s", err.msg);
}

static void add_committed(struct store *s, const struct pw_post *post)
{
    struct pw_errbuf err;
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_add(&repo, post, &err), PW_OK, "add: %s", err.msg);
    store_commit(&s->uow);
}

static enum pw_err get_in(struct pw_uow *uow, const char *post_id, struct pw_post *out)
{
    store_begin(uow);
    struct pw_repo repo = pw_uow_posts(uow);
    enum pw_err rc = pw_repo_get(&repo, post_id, out, NULL);
    pw_uow_rollback(uow);
    return rc;
}

static void assert_post_eq(const struct pw_post *a, const struct pw_post *b)
{
    cr_assert_str_eq(a->post_id, b->post_id);
    cr_assert_str_eq(a->author_name, b->author_name);
    cr_assert_str_eq(a->title, b->title);
    cr_assert_str_eq(a->body, b->body);
    cr_assert_eq(a->version, b->version);
    cr_assert_eq(a->created_at, b->created_at);
    cr_assert_eq(a->updated_at, b->updated_at);
    cr_assert_eq(a->deleted_at, b->deleted_at);
}

void store_case_get_of_missing_post_is_not_found(struct store *s)
{
    struct pw_post out = {0};
    cr_assert_eq(get_in(&s->uow, "nope", &out), PW_E_NOT_FOUND);
    cr_assert_null(out.title, "output untouched on failure");
}

void store_case_added_post_reads_back_field_for_field(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 1), out = {0};
    post.deleted_at = T0 + 2000000;
    add_committed(s, &post);
    cr_assert_eq(get_in(&s->uow, "p-1", &out), PW_OK);
    assert_post_eq(&out, &post);
    pw_post_release(&out);
    pw_post_release(&post);
}

/*
 * Text that is an array literal's own syntax, an empty body, and the first
 * and last times there are: written as new and as changed, read back as
 * they were (the PostgreSQL adapter sends them as array parameters).
 */
void store_case_text_and_times_at_their_edges_read_back_as_written(struct store *s)
{
    struct pw_post post = store_post_make("{p-1,\"NULL\"}\\", 1), out = {0};
    free(post.author_name);
    free(post.body);
    post.author_name = strdup("NULL");
    post.body = strdup("");
    post.created_at = PW_TIME_MIN;
    post.updated_at = PW_TIME_MAX;
    add_committed(s, &post);
    cr_assert_eq(get_in(&s->uow, post.post_id, &out), PW_OK);
    assert_post_eq(&out, &post);
    pw_post_release(&out);
    free(post.title);
    post.title = strdup("} , \\\" { NULL");
    post.version = 2;
    post.deleted_at = PW_TIME_MAX - 1;
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_save(&repo, &post, NULL), PW_OK);
    cr_assert_eq(pw_uow_inbox_put(&s->uow, "{\"/a\",NULL}", "\\", PW_OK, post.post_id, 2, NULL),
                 PW_OK);
    store_commit(&s->uow);
    cr_assert_eq(get_in(&s->uow2, post.post_id, &out), PW_OK);
    assert_post_eq(&out, &post);
    pw_post_release(&out);
    bool found = false;
    enum pw_err first = PW_E_FATAL;
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_inbox_get(&s->uow, "{\"/a\",NULL}", "\\", &found, &first, NULL), PW_OK);
    pw_uow_rollback(&s->uow);
    cr_assert(found);
    cr_assert_eq(first, PW_OK);
    pw_post_release(&post);
}

void store_case_add_of_existing_post_is_already_exists(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 1);
    add_committed(s, &post);
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_add(&repo, &post, NULL), PW_E_ALREADY_EXISTS);
    pw_uow_rollback(&s->uow);
    pw_post_release(&post);
}

void store_case_save_replaces_post_at_the_next_version(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 1), out = {0};
    add_committed(s, &post);
    free(post.title);
    post.title = strdup("Changed");
    post.version = 2;
    post.updated_at = T0 + 9000000;
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_save(&repo, &post, NULL), PW_OK);
    /* Read your own write inside the transaction. */
    cr_assert_eq(pw_repo_get(&repo, "p-1", &out, NULL), PW_OK);
    assert_post_eq(&out, &post);
    pw_post_release(&out);
    store_commit(&s->uow);
    cr_assert_eq(get_in(&s->uow2, "p-1", &out), PW_OK);
    assert_post_eq(&out, &post);
    pw_post_release(&out);
    pw_post_release(&post);
}

void store_case_save_of_missing_post_is_not_found(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 2);
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_save(&repo, &post, NULL), PW_E_NOT_FOUND);
    pw_uow_rollback(&s->uow);
    pw_post_release(&post);
}

void store_case_save_over_a_stale_version_is_version_conflict(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 1);
    add_committed(s, &post);
    post.version = 3; /* skips version 2: the stored one is not version - 1 */
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_save(&repo, &post, NULL), PW_E_VERSION_CONFLICT);
    pw_uow_rollback(&s->uow);
    pw_post_release(&post);
}

struct pw_event store_event_make(const char *post_id, const char *cmd_id)
{
    struct pw_cmd cmd = cmd_create(cmd_id, post_id, T0);
    struct pw_post post = store_post_make(post_id, 1);
    struct pw_event ev;
    pw_event_init(&ev, PW_EVENT_POST_CREATED, 0, &cmd.env, &post);
    snprintf(ev.id, sizeof ev.id, "00000000-0000-5000-8000-%012d", atoi(cmd_id + 1));
    return ev;
}

static size_t outbox_count(struct store *s)
{
    struct pw_out evs[16];
    uint64_t seqs[16];
    size_t n = 0;
    cr_assert_eq(pw_outbox_peek(&s->outbox, evs, seqs, 16, &n, NULL), PW_OK);
    for (size_t i = 0; i < n; i++)
        pw_out_release(&evs[i]);
    return n;
}

void store_case_rollback_leaves_no_trace(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 1), out = {0};
    struct pw_event ev = store_event_make("p-1", "c1");
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_add(&repo, &post, NULL), PW_OK);
    cr_assert_eq(pw_uow_inbox_put(&s->uow, "/test", "c1", PW_OK, "p1", 1, NULL), PW_OK);
    cr_assert_eq(pw_uow_outbox_put(&s->uow, "post-events", &ev, NULL), PW_OK);
    cr_assert_eq(pw_uow_offset_put(&s->uow, "g", "t", 0, 42, NULL), PW_OK);
    pw_uow_rollback(&s->uow);

    cr_assert_eq(get_in(&s->uow, "p-1", &out), PW_E_NOT_FOUND);
    bool found = true;
    enum pw_err first;
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_inbox_get(&s->uow, "/test", "c1", &found, &first, NULL), PW_OK);
    pw_uow_rollback(&s->uow);
    cr_assert_not(found);
    cr_assert_eq(outbox_count(s), 0);
    int64_t off = 0;
    cr_assert_eq(pw_store_offset_get(&s->st, "g", "t", 0, &off, NULL), PW_OK);
    cr_assert_eq(off, -1);
    pw_event_release(&ev);
    pw_post_release(&post);
}

void store_case_commit_is_visible_to_another_unit_of_work(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 1), out = {0};
    add_committed(s, &post);
    cr_assert_eq(get_in(&s->uow2, "p-1", &out), PW_OK);
    pw_post_release(&out);
    pw_post_release(&post);
}

void store_case_uncommitted_change_is_invisible_to_another_unit_of_work(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 1), out = {0};
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_add(&repo, &post, NULL), PW_OK);
    cr_assert_eq(get_in(&s->uow2, "p-1", &out), PW_E_NOT_FOUND);
    pw_uow_rollback(&s->uow);
    pw_post_release(&post);
}

/* Marks n commands "<prefix>-<i>" of source /r processed, in one transaction. */
static void mark_many(struct store *s, const char *prefix, int n)
{
    store_begin(&s->uow);
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        cr_assert_eq(pw_uow_inbox_put(&s->uow, "/r", id, PW_OK, id, 1, NULL), PW_OK);
    }
    store_commit(&s->uow);
}

/* How many of "<prefix>-<i>", i < n, are still marked processed. */
static int marked(struct store *s, const char *prefix, int n)
{
    int found_n = 0;
    store_begin(&s->uow2);
    for (int i = 0; i < n; i++) {
        char id[32];
        bool found = false;
        enum pw_err outcome = PW_E_FATAL;
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        cr_assert_eq(pw_uow_inbox_get(&s->uow2, "/r", id, &found, &outcome, NULL), PW_OK);
        cr_assert(!found || outcome == PW_OK, "%s kept its outcome", id);
        found_n += found;
    }
    pw_uow_rollback(&s->uow2);
    return found_n;
}

void store_case_old_inbox_marks_are_pruned_oldest_first_a_batch_at_a_time(struct store *s)
{
    mark_many(s, "old", 300);
    nanosleep(&(struct timespec){0, 600 * 1000 * 1000}, NULL);
    mark_many(s, "new", 300);
    size_t pruned = 0;
    struct pw_errbuf err;
    cr_assert_eq(pw_store_prune_inbox(&s->st, 300, 250, &pruned, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pruned, 250, "a batch at most");
    cr_assert_eq(pw_store_prune_inbox(&s->st, 300, 250, &pruned, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pruned, 50, "then the rest of the old ones");
    cr_assert_eq(pw_store_prune_inbox(&s->st, 300, 250, &pruned, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pruned, 0, "and none of the new");
    cr_assert_eq(marked(s, "old", 300), 0);
    cr_assert_eq(marked(s, "new", 300), 300, "the new ones are still duplicates");
    /* A pruned command that comes again is a new one: it can be marked again. */
    mark_many(s, "old", 10);
    cr_assert_eq(marked(s, "old", 300), 10);
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    cr_assert_eq(pw_store_prune_inbox(&s->st2, 0, 1000, &pruned, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pruned, 310, "any handle prunes, everything older than now");
    cr_assert_eq(marked(s, "new", 300) + marked(s, "old", 300), 0);
}

void store_case_inbox_records_the_outcome(struct store *s)
{
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_inbox_put(&s->uow, "/a", "c1", PW_OK, "p1", 1, NULL), PW_OK);
    cr_assert_eq(pw_uow_inbox_put(&s->uow, "/a", "c2", PW_E_VERSION_CONFLICT, "p1", 0, NULL), PW_OK);
    store_commit(&s->uow);
    static const struct {
        const char *source, *id;
        bool found;
        enum pw_err outcome;
    } cases[] = {
        {"/a", "c1", true, PW_OK},
        {"/a", "c2", true, PW_E_VERSION_CONFLICT},
        {"/b", "c1", false, PW_OK}, /* another source's c1 is another command */
        {"/a", "c3", false, PW_OK},
    };
    store_begin(&s->uow2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool found;
        enum pw_err outcome = PW_OK;
        cr_assert_eq(pw_uow_inbox_get(&s->uow2, cases[i].source, cases[i].id, &found, &outcome,
                                      NULL), PW_OK);
        cr_assert_eq(found, cases[i].found, "case %zu", i);
        if (found)
            cr_assert_eq(outcome, cases[i].outcome, "case %zu", i);
    }
    pw_uow_rollback(&s->uow2);
}

void store_case_outbox_gives_committed_events_in_commit_order(struct store *s)
{
    const char *order[] = {"c1", "c2", "c3", "c4", "c5"};
    for (size_t i = 0; i < 5; i++) {
        struct pw_event ev = store_event_make(i % 2 ? "p-odd" : "p-even", order[i]);
        store_begin(&s->uow);
        cr_assert_eq(pw_uow_outbox_put(&s->uow, "post-events", &ev, NULL), PW_OK);
        store_commit(&s->uow);
        pw_event_release(&ev);
    }
    struct pw_out evs[8];
    uint64_t seqs[8];
    size_t n = 0;
    cr_assert_eq(pw_outbox_peek(&s->outbox, evs, seqs, 3, &n, NULL), PW_OK);
    cr_assert_eq(n, 3, "peek takes at most max");
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(evs[i].ev.causation_id, order[i]);
        cr_assert_str_eq(evs[i].ev.post.title, "Héllo, wörld ✓");
        if (i)
            cr_assert_gt(seqs[i], seqs[i - 1]);
        pw_out_release(&evs[i]);
    }
}

void store_case_outbox_keeps_events_until_removed(struct store *s)
{
    struct pw_event ev1 = store_event_make("p-1", "c1"), ev2 = store_event_make("p-1", "c2");
    char id1[PW_EVENT_ID_LEN + 1], id2[PW_EVENT_ID_LEN + 1];
    strcpy(id1, ev1.id);
    strcpy(id2, ev2.id);
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_outbox_put(&s->uow, "post-events", &ev1, NULL), PW_OK);
    cr_assert_eq(pw_uow_outbox_put(&s->uow, "post-events", &ev2, NULL), PW_OK);
    store_commit(&s->uow);
    cr_assert_eq(outbox_count(s), 2);
    cr_assert_eq(outbox_count(s), 2, "peek does not remove");

    struct pw_out evs[4];
    uint64_t seqs[4];
    size_t n;
    cr_assert_eq(pw_outbox_peek(&s->outbox, evs, seqs, 1, &n, NULL), PW_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(evs[0].ev.id, id1);
    cr_assert_eq(evs[0].kind, PW_OUT_EVENT);
    cr_assert_str_eq(evs[0].topic, "post-events");
    pw_out_release(&evs[0]);
    cr_assert_eq(pw_outbox_remove(&s->outbox, seqs, 1, NULL), PW_OK);
    cr_assert_eq(pw_outbox_peek(&s->outbox, evs, seqs, 4, &n, NULL), PW_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(evs[0].ev.id, id2);
    pw_out_release(&evs[0]);
    cr_assert_eq(pw_outbox_remove(&s->outbox, seqs, 1, NULL), PW_OK);
    cr_assert_eq(outbox_count(s), 0);
    pw_event_release(&ev1);
    pw_event_release(&ev2);
}

void store_case_offsets_read_back_and_are_minus_one_when_absent(struct store *s)
{
    int64_t off = 0;
    cr_assert_eq(pw_store_offset_get(&s->st, "g", "post-commands", 3, &off, NULL), PW_OK);
    cr_assert_eq(off, -1);
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_offset_put(&s->uow, "g", "post-commands", 3, 10, NULL), PW_OK);
    cr_assert_eq(pw_uow_offset_put(&s->uow, "g", "post-commands", 3, 11, NULL), PW_OK);
    cr_assert_eq(pw_uow_offset_put(&s->uow, "g", "post-commands", 4, 7, NULL), PW_OK);
    store_commit(&s->uow);
    cr_assert_eq(pw_store_offset_get(&s->st, "g", "post-commands", 3, &off, NULL), PW_OK);
    cr_assert_eq(off, 11, "the highest put in a transaction wins");
    cr_assert_eq(pw_store_offset_get(&s->st, "g", "post-commands", 4, &off, NULL), PW_OK);
    cr_assert_eq(off, 7);
    cr_assert_eq(pw_store_offset_get(&s->st, "g", "other", 3, &off, NULL), PW_OK);
    cr_assert_eq(off, -1);
}

void store_case_concurrent_change_to_one_post_applies_once(struct store *s)
{
    struct pw_post post = store_post_make("p-1", 1), a = {0}, b = {0}, out = {0};
    add_committed(s, &post);
    /* Both read version 1 ... */
    store_begin(&s->uow);
    store_begin(&s->uow2);
    struct pw_repo r1 = pw_uow_posts(&s->uow), r2 = pw_uow_posts(&s->uow2);
    cr_assert_eq(pw_repo_get(&r1, "p-1", &a, NULL), PW_OK);
    cr_assert_eq(pw_repo_get(&r2, "p-1", &b, NULL), PW_OK);
    /* ... the first saves version 2 and commits ... */
    a.version = 2;
    cr_assert_eq(pw_repo_save(&r1, &a, NULL), PW_OK);
    store_commit(&s->uow);
    /* ... and the second's save or commit fails: it must not overwrite. */
    b.version = 2;
    free(b.title);
    b.title = strdup("lost update");
    enum pw_err rc = pw_repo_save(&r2, &b, NULL);
    if (rc == PW_OK) {
        rc = pw_uow_commit(&s->uow2, NULL);
    } else {
        pw_uow_rollback(&s->uow2);
    }
    cr_assert(rc == PW_E_VERSION_CONFLICT || pw_err_is_transient(rc), "got %s", pw_err_name(rc));
    cr_assert_eq(get_in(&s->uow, "p-1", &out), PW_OK);
    cr_assert_str_eq(out.title, post.title);
    cr_assert_eq(out.version, 2);
    pw_post_release(&out);
    pw_post_release(&a);
    pw_post_release(&b);
    pw_post_release(&post);
}

void store_case_concurrent_inbox_mark_of_one_command_applies_once(struct store *s)
{
    store_begin(&s->uow);
    store_begin(&s->uow2);
    cr_assert_eq(pw_uow_inbox_put(&s->uow, "/a", "c1", PW_OK, "p1", 1, NULL), PW_OK);
    store_commit(&s->uow);
    enum pw_err rc = pw_uow_inbox_put(&s->uow2, "/a", "c1", PW_E_NOT_FOUND, "p1", 0, NULL);
    if (rc == PW_OK) {
        rc = pw_uow_commit(&s->uow2, NULL);
    } else {
        pw_uow_rollback(&s->uow2);
    }
    cr_assert(pw_err_is_transient(rc), "got %s", pw_err_name(rc));
    bool found;
    enum pw_err outcome;
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_inbox_get(&s->uow, "/a", "c1", &found, &outcome, NULL), PW_OK);
    pw_uow_rollback(&s->uow);
    cr_assert(found);
    cr_assert_eq(outcome, PW_OK, "the first mark stands");
}

void store_case_only_one_outbox_reader_publishes_at_a_time(struct store *s)
{
    struct pw_event ev = store_event_make("p-1", "c1");
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_outbox_put(&s->uow, "post-events", &ev, NULL), PW_OK);
    store_commit(&s->uow);
    pw_event_release(&ev);
    struct pw_out evs[4];
    uint64_t seqs[4];
    size_t n = 0;
    cr_assert_eq(pw_outbox_peek(&s->outbox, evs, seqs, 4, &n, NULL), PW_OK);
    cr_assert_eq(n, 1, "the first reader publishes");
    pw_out_release(&evs[0]);
    cr_assert_eq(pw_outbox_peek(&s->outbox2, evs, seqs, 4, &n, NULL), PW_OK);
    cr_assert_eq(n, 0, "the second waits its turn");
}

void store_case_a_store_holds_nothing_until_a_command_or_an_offset_is_stored(struct store *s)
{
    bool empty = false;
    cr_assert_eq(pw_store_holds_nothing(&s->st, &empty, NULL), PW_OK);
    cr_assert(empty, "a fresh store holds nothing");
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_offset_put(&s->uow, "g", "post-commands", 0, 5, NULL), PW_OK);
    store_commit(&s->uow);
    cr_assert_eq(pw_store_holds_nothing(&s->st2, &empty, NULL), PW_OK);
    cr_assert(!empty, "an offset stored is something: the topic was read");
}

/*
 * The store contract, read side (ports/query.h): posts, pages in keyset
 * order, what became of a command, and waits that wake on a commit. Each
 * runs on every adapter (STORE_CASES).
 */
#include "tests/store_contract.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tests/helpers.h"

static void put_posts(struct store *s, struct pw_post *posts, size_t n)
{
    struct pw_errbuf err;
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(pw_repo_add(&repo, &posts[i], &err), PW_OK, "add: %s", err.msg);
    store_commit(&s->uow);
}

void store_case_a_post_reads_back_deleted_or_not_once_committed(struct store *s)
{
    struct pw_post posts[2] = {store_post_make("p-1", 3), store_post_make("p-2", 2)};
    posts[1].deleted_at = T0 + 7000000;
    put_posts(s, posts, 2);
    struct pw_errbuf err;
    struct pw_post got;
    bool found = false;
    cr_assert_eq(pw_query_post_get(&s->q, "p-1", &got, &found, &err), PW_OK, "%s", err.msg);
    cr_assert(found);
    cr_assert_str_eq(got.post_id, "p-1");
    cr_assert_str_eq(got.author_name, posts[0].author_name);
    cr_assert_str_eq(got.title, posts[0].title);
    cr_assert_str_eq(got.body, posts[0].body);
    cr_assert_eq(got.version, 3);
    cr_assert_eq(got.created_at, T0);
    cr_assert_eq(got.updated_at, T0 + 1500000);
    cr_assert_eq(got.deleted_at, PW_TIME_NONE);
    pw_post_release(&got);
    cr_assert_eq(pw_query_post_get(&s->q, "p-2", &got, &found, &err), PW_OK, "%s", err.msg);
    cr_assert(found, "a deleted post is found, with its last state");
    cr_assert_eq(got.deleted_at, T0 + 7000000);
    pw_post_release(&got);
    cr_assert_eq(pw_query_post_get(&s->q, "p-3", &got, &found, &err), PW_OK);
    cr_assert_not(found);

    /* Not committed yet: not there for a reader. */
    struct pw_post later = store_post_make("p-3", 1);
    store_begin(&s->uow);
    struct pw_repo repo = pw_uow_posts(&s->uow);
    cr_assert_eq(pw_repo_add(&repo, &later, &err), PW_OK);
    cr_assert_eq(pw_query_post_get(&s->q, "p-3", &got, &found, &err), PW_OK);
    cr_assert_not(found, "an uncommitted post is invisible to readers");
    store_commit(&s->uow);
    cr_assert_eq(pw_query_post_get(&s->q, "p-3", &got, &found, &err), PW_OK);
    cr_assert(found);
    pw_post_release(&got);
    pw_post_release(&later);
    for (size_t i = 0; i < 2; i++)
        pw_post_release(&posts[i]);
}

void store_case_a_post_reads_back_its_times_to_the_microsecond_over_the_whole_range(
    struct store *s)
{
    /* The contract's first and last microseconds, and both sides of 1970 and of 2000. */
    static const pw_time times[][3] = {
        {PW_TIME_MIN, PW_TIME_MIN + 1, PW_TIME_MAX},
        {-1, 0, 1},
        {(pw_time)946684800 * 1000000 - 1, (pw_time)946684800 * 1000000,
         (pw_time)946684800 * 1000000 + 1},
        {T0 + 123457, PW_TIME_MAX - 1, PW_TIME_MAX},
    };
    enum { N = sizeof times / sizeof times[0] };
    struct pw_post posts[N];
    for (size_t i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "t-%zu", i);
        posts[i] = store_post_make(id, 1);
        posts[i].created_at = times[i][0];
        posts[i].updated_at = times[i][1];
        posts[i].deleted_at = times[i][2];
    }
    put_posts(s, posts, N);
    struct pw_errbuf err;
    for (size_t i = 0; i < N; i++) {
        struct pw_post got;
        bool found = false;
        cr_assert_eq(pw_query_post_get(&s->q, posts[i].post_id, &got, &found, &err), PW_OK,
                     "%s", err.msg);
        cr_assert(found);
        cr_assert_eq(got.created_at, times[i][0], "created_at %lld, not %lld",
                     (long long)got.created_at, (long long)times[i][0]);
        cr_assert_eq(got.updated_at, times[i][1]);
        cr_assert_eq(got.deleted_at, times[i][2]);
        cr_assert_eq(got.version, 1);
        pw_post_release(&got);
    }
    struct pw_posts_filter f = {.deleted = PW_DELETED_ONLY};
    struct pw_post page[N + 1];
    size_t n = 0;
    bool more = true;
    cr_assert_eq(pw_query_posts_list(&s->q, &f, page, N + 1, &n, &more, &err), PW_OK, "%s",
                 err.msg);
    cr_assert_eq(n, N);
    cr_assert_not(more);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(page[i].created_at, times[i][0], "in created_at order");
        cr_assert_eq(page[i].deleted_at, times[i][2]);
        pw_post_release(&page[i]);
    }
    for (size_t i = 0; i < N; i++)
        pw_post_release(&posts[i]);
}

/* Walks every page of f at limit, into ids (comma-separated), and counts the pages. */
static int walk(struct store *s, struct pw_posts_filter f, size_t limit, char *ids, size_t size)
{
    struct pw_post page[PW_QUERY_PAGE_MAX];
    struct pw_errbuf err;
    int pages = 0;
    ids[0] = '\0';
    for (bool more = true; more; pages++) {
        size_t n = 0;
        cr_assert_eq(pw_query_posts_list(&s->q, &f, page, limit, &n, &more, &err), PW_OK, "%s",
                     err.msg);
        cr_assert(n <= limit);
        cr_assert(n > 0 || !more, "an empty page has nothing after it");
        for (size_t i = 0; i < n; i++) {
            snprintf(ids + strlen(ids), size - strlen(ids), "%s%s", ids[0] ? "," : "",
                     page[i].post_id);
            if (f.author)
                cr_assert_str_eq(page[i].author_name, f.author);
        }
        if (n) {
            f.after = true;
            f.after_created = page[n - 1].created_at;
            snprintf(f.after_id, sizeof f.after_id, "%s", page[n - 1].post_id);
        }
        for (size_t i = 0; i < n; i++)
            pw_post_release(&page[i]);
        cr_assert(pages < 100);
    }
    return pages;
}

void store_case_pages_walk_every_matching_post_once_in_keyset_order(struct store *s)
{
    /*
     * Seven posts of Ada's, three of them created at the same instant (ties
     * go by post_id), one deleted; two of Bob's. Their ids are not in
     * created_at order, so a page in id order would be caught.
     */
    static const struct { const char *id, *author; int at; bool deleted; } rows[] = {
        {"z-1", "Ada", 0, false}, {"c-2", "Ada", 5, false}, {"b-3", "Ada", 5, true},
        {"a-4", "Ada", 5, false}, {"y-5", "Ada", 9, false}, {"x-6", "Ada", 2, false},
        {"m-7", "Ada", 12, false}, {"k-8", "Bob", 1, false}, {"j-9", "Bob", 7, true},
    };
    size_t n = sizeof rows / sizeof rows[0];
    struct pw_post posts[sizeof rows / sizeof rows[0]];
    for (size_t i = 0; i < n; i++) {
        posts[i] = store_post_make(rows[i].id, 1);
        free(posts[i].author_name);
        posts[i].author_name = strdup(rows[i].author);
        posts[i].created_at = T0 + (pw_time)rows[i].at * 1000000;
        posts[i].deleted_at = rows[i].deleted ? T0 + 20000000 : PW_TIME_NONE;
    }
    put_posts(s, posts, n);
    char ids[256];
    struct pw_posts_filter ada = {.author = "Ada", .deleted = PW_DELETED_EXCLUDE};
    cr_assert_eq(walk(s, ada, 2, ids, sizeof ids), 3);
    cr_assert_str_eq(ids, "z-1,x-6,a-4,c-2,y-5,m-7");
    cr_assert_eq(walk(s, ada, 500, ids, sizeof ids), 1);
    cr_assert_str_eq(ids, "z-1,x-6,a-4,c-2,y-5,m-7");
    ada.deleted = PW_DELETED_INCLUDE;
    walk(s, ada, 1, ids, sizeof ids);
    cr_assert_str_eq(ids, "z-1,x-6,a-4,b-3,c-2,y-5,m-7");
    ada.deleted = PW_DELETED_ONLY;
    walk(s, ada, 3, ids, sizeof ids);
    cr_assert_str_eq(ids, "b-3");
    struct pw_posts_filter all = {.deleted = PW_DELETED_INCLUDE};
    walk(s, all, 4, ids, sizeof ids);
    cr_assert_str_eq(ids, "z-1,k-8,x-6,a-4,b-3,c-2,j-9,y-5,m-7");
    struct pw_posts_filter nobody = {.author = "Eve", .deleted = PW_DELETED_INCLUDE};
    cr_assert_eq(walk(s, nobody, 50, ids, sizeof ids), 1);
    cr_assert_str_eq(ids, "");
    /* A cursor between two tied posts goes on from the next. */
    struct pw_posts_filter mid = {.author = "Ada", .deleted = PW_DELETED_EXCLUDE, .after = true,
                                  .after_created = T0 + 5000000, .after_id = "b-3"};
    walk(s, mid, 50, ids, sizeof ids);
    cr_assert_str_eq(ids, "c-2,y-5,m-7");
    for (size_t i = 0; i < n; i++)
        pw_post_release(&posts[i]);
}

static struct pw_command_status status_of(struct store *s, const char *id, const char *post_id)
{
    struct pw_command_status st;
    struct pw_errbuf err;
    cr_assert_eq(pw_query_command_get(&s->q, "/test", id, post_id, &st, &err), PW_OK, "%s",
                 err.msg);
    return st;
}

void store_case_a_command_reads_back_as_what_became_of_it(struct store *s)
{
    struct pw_errbuf err;
    store_begin(&s->uow);
    cr_assert_eq(pw_uow_inbox_put(&s->uow, "/test", "c-1", PW_OK, "p-1", 4, &err), PW_OK);
    cr_assert_eq(pw_uow_inbox_put(&s->uow, "/test", "c-2", PW_E_VERSION_CONFLICT, "p-1", 0, &err),
                 PW_OK);
    cr_assert_eq(pw_uow_inbox_put(&s->uow, "/test", "c-3", PW_E_VALIDATION_FAILED, NULL, 0, &err),
                 PW_OK);
    struct pw_parked p = {.code = PW_E_APPLY_FAILED, .partition = 1, .offset = 9};
    snprintf(p.post_id, sizeof p.post_id, "p-9");
    snprintf(p.source, sizeof p.source, "/test");
    snprintf(p.id, sizeof p.id, "c-9");
    snprintf(p.topic, sizeof p.topic, "post-commands");
    cr_assert_eq(pw_uow_park(&s->uow, &p, &err), PW_OK, "%s", err.msg);
    struct pw_origin o = {.group = "g", .topic = "post-commands", .partition = 1, .offset = 10,
                          .key = "p-9", .key_len = 3, .value = "v", .value_len = 1};
    cr_assert_eq(pw_uow_hold(&s->uow, "p-9", "/test", "c-10", &o, 0, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(status_of(s, "c-1", NULL).outcome, PW_Q_UNKNOWN, "not committed yet");
    store_commit(&s->uow);

    struct pw_command_status st = status_of(s, "c-1", NULL);
    cr_assert_eq(st.outcome, PW_Q_APPLIED);
    cr_assert_str_eq(st.post_id, "p-1");
    cr_assert_eq(st.version, 4);
    cr_assert_eq(status_of(s, "c-1", "p-1").outcome, PW_Q_APPLIED);
    st = status_of(s, "c-1", "p-2");
    cr_assert_eq(st.outcome, PW_Q_DUPLICATE, "processed for another post");
    cr_assert_str_eq(st.post_id, "p-1", "the one it was processed for");
    st = status_of(s, "c-2", NULL);
    cr_assert_eq(st.outcome, PW_Q_REJECTED);
    cr_assert_eq(st.code, PW_E_VERSION_CONFLICT);
    cr_assert_str_eq(st.post_id, "p-1");
    st = status_of(s, "c-3", "p-1");
    cr_assert_eq(st.outcome, PW_Q_REJECTED, "no post to differ from");
    cr_assert_str_eq(st.post_id, "");
    st = status_of(s, "c-9", NULL);
    cr_assert_eq(st.outcome, PW_Q_FAILED);
    cr_assert_eq(st.code, PW_E_APPLY_FAILED);
    cr_assert_str_eq(st.post_id, "p-9");
    st = status_of(s, "c-10", NULL);
    cr_assert_eq(st.outcome, PW_Q_HELD);
    cr_assert_str_eq(st.post_id, "p-9");
    cr_assert_eq(status_of(s, "c-404", NULL).outcome, PW_Q_UNKNOWN);
    cr_assert_eq(pw_query_command_get(&s->q, "/other", "c-1", NULL, &st, &err), PW_OK);
    cr_assert_eq(st.outcome, PW_Q_UNKNOWN, "known by source and id together");

    /* Given up: still failed, now from the inbox, and its held command waits no more on it. */
    bool found = false;
    cr_assert_eq(pw_store_release(&s->st, "p-9", false, &p, &found, &err), PW_OK, "%s", err.msg);
    cr_assert(found);
    st = status_of(s, "c-9", NULL);
    cr_assert_eq(st.outcome, PW_Q_FAILED);
    cr_assert_eq(st.code, PW_E_APPLY_FAILED);
    cr_assert_str_eq(st.post_id, "p-9");
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct late_commit {
    struct store *s;
    int delay_ms;
    int round; /* command c-ROUND, event cROUND */
    int64_t done_ms; /* when the commit returned */
    enum pw_err rc; /* asserted by the test's own thread */
    struct pw_errbuf err;
};

static void *commit_later(void *arg)
{
    struct late_commit *lc = arg;
    nanosleep(&(struct timespec){0, lc->delay_ms * 1000000L}, NULL);
    char cid[16], eid[16];
    snprintf(cid, sizeof cid, "c-%d", lc->round);
    snprintf(eid, sizeof eid, "c%d", lc->round);
    struct pw_event ev = store_event_make("p-1", eid);
    struct pw_uow *uow = &lc->s->uow;
    lc->rc = pw_uow_begin(uow, &lc->err);
    if (!lc->rc)
        lc->rc = pw_uow_outbox_put(uow, "post-events", &ev, &lc->err);
    if (!lc->rc)
        lc->rc = pw_uow_inbox_put(uow, "/test", cid, PW_OK, "p-1", 1, &lc->err);
    if (!lc->rc)
        lc->rc = pw_uow_commit(uow, &lc->err);
    else
        pw_uow_rollback(uow);
    lc->done_ms = mono_ms();
    return NULL;
}

void store_case_a_wait_for_changes_wakes_on_a_commit(struct store *s)
{
    uint64_t seen = 0;
    int64_t t0 = mono_ms();
    pw_query_changes_wait(&s->q, &seen, 10000);
    cr_assert_lt(mono_ms() - t0, 1000, "from 0 it returns at once");
    cr_assert_neq(seen, 0);
    /* The listener may take a moment to listen: its first waits may end early. */
    struct late_commit lc = {.s = s, .delay_ms = 700, .round = 1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, commit_later, &lc), 0);
    t0 = mono_ms();
    struct pw_command_status st = {0};
    while (st.outcome != PW_Q_APPLIED && mono_ms() - t0 < 10000) {
        pw_query_changes_wait(&s->q, &seen, 10000);
        st = status_of(s, "c-1", NULL);
    }
    int64_t took = mono_ms() - t0;
    pthread_join(t, NULL);
    cr_assert_eq(lc.rc, PW_OK, "%s", lc.err.msg);
    cr_assert_eq(st.outcome, PW_Q_APPLIED);
    cr_assert_lt(took, 3000, "woken by the commit (%lld ms), not by the 10 s timeout",
                 (long long)took);

    /*
     * Woken by the commit itself (NOTIFY, or the commit in this process),
     * not by asking again every so often: five commits at odd moments, each
     * seen within 150 ms. A tick every 250 ms would pass all five about one
     * time in twelve.
     */
    for (int round = 2; round <= 6; round++) {
        char cid[16];
        snprintf(cid, sizeof cid, "c-%d", round);
        lc = (struct late_commit){.s = s, .delay_ms = 150 + 113 * round, .round = round};
        cr_assert_eq(pthread_create(&t, NULL, commit_later, &lc), 0);
        st = status_of(s, cid, NULL);
        t0 = mono_ms();
        while (st.outcome != PW_Q_APPLIED && mono_ms() - t0 < 10000) {
            pw_query_changes_wait(&s->q, &seen, 10000);
            st = status_of(s, cid, NULL);
        }
        int64_t seen_ms = mono_ms();
        pthread_join(t, NULL);
        cr_assert_eq(lc.rc, PW_OK, "%s", lc.err.msg);
        cr_assert_eq(st.outcome, PW_Q_APPLIED);
        cr_assert_lt(seen_ms - lc.done_ms, 150, "commit %d seen %lld ms after it returned", round,
                     (long long)(seen_ms - lc.done_ms));
    }
}

void store_case_posts_read_together_are_each_their_own(struct store *s)
{
    struct pw_post posts[3] = {store_post_make("p-1", 1), store_post_make("p-2", 4),
                               store_post_make("p-3", 2)};
    posts[2].deleted_at = T0 + 9000000;
    put_posts(s, posts, 3);
    const char *ids[] = {"p-3", "nope", "p-1", "p-3", "p-2"};
    struct pw_post got[5];
    bool found[5];
    struct pw_errbuf err;
    cr_assert_eq(pw_query_posts_get(&s->q, ids, 5, got, found, &err), PW_OK, "%s", err.msg);
    static const int64_t versions[] = {2, 0, 1, 2, 4};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(found[i], i != 1, "%s", ids[i]);
        if (!found[i])
            continue;
        cr_assert_str_eq(got[i].post_id, ids[i], "each answer is its own id's, in order");
        cr_assert_eq(got[i].version, versions[i]);
        if (i == 0)
            cr_assert_eq(got[i].deleted_at, T0 + 9000000, "deleted ones too");
        pw_post_release(&got[i]);
    }
    for (size_t i = 0; i < 3; i++)
        pw_post_release(&posts[i]);
}

void store_case_pages_walk_thousands_of_posts_added_out_of_order(struct store *s)
{
    /* 3,000 posts, created at shuffled times (many ties), added in three commits. */
    enum { N = 3000 };
    unsigned x = 12345;
    struct pw_errbuf err;
    for (int part = 0; part < 3; part++) {
        store_begin(&s->uow);
        struct pw_repo repo = pw_uow_posts(&s->uow);
        for (int i = part * N / 3; i < (part + 1) * N / 3; i++) {
            char id[16];
            snprintf(id, sizeof id, "o-%04d", i);
            struct pw_post p = store_post_make(id, 1);
            x = x * 1103515245u + 12345u;
            p.created_at = T0 + (pw_time)(x >> 16) % 700 * 1000;
            cr_assert_eq(pw_repo_add(&repo, &p, &err), PW_OK, "%s", err.msg);
            pw_post_release(&p);
        }
        store_commit(&s->uow);
    }
    struct pw_posts_filter f = {.deleted = PW_DELETED_INCLUDE};
    static struct pw_post page[97];
    int seen = 0;
    pw_time last_at = 0;
    char last_id[PW_POST_ID_MAX + 1] = "";
    for (bool more = true; more;) {
        size_t n = 0;
        cr_assert_eq(pw_query_posts_list(&s->q, &f, page, 97, &n, &more, &err), PW_OK, "%s",
                     err.msg);
        for (size_t i = 0; i < n; i++) {
            cr_assert(seen == 0 || page[i].created_at > last_at ||
                          (page[i].created_at == last_at && strcmp(page[i].post_id, last_id) > 0),
                      "in order at %d: %s", seen, page[i].post_id);
            last_at = page[i].created_at;
            snprintf(last_id, sizeof last_id, "%s", page[i].post_id);
            seen++;
            pw_post_release(&page[i]);
        }
        f.after = true;
        f.after_created = last_at;
        snprintf(f.after_id, sizeof f.after_id, "%s", last_id);
    }
    cr_assert_eq(seen, N, "every post once");
}

/*
 * Durability and bounded storage on PostgreSQL. --durability relaxed:
 * commits that do not wait for their flush, and a relay that never
 * publishes ahead of the disk; the server is stopped with -m immediate,
 * which loses what it had not flushed, so that test runs alone (make test:
 * PW_PG_OUTAGE=1), since every other test shares the server. And the
 * inbox's retention, pruning behind a running worker.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/fault/fault.h"
#include "bootstrap/prune.h"
#include "tests/kafka_world.h"

enum { POSTS = 200, VERSIONS = 12, LOST_AT = 8 };

static int event_post(const struct kmsg *ev)
{
    const char *dash = strrchr(ev->key, '-');
    return dash ? atoi(dash + 1) : -1;
}

static long event_version(const struct kmsg *ev, char *id, size_t cap)
{
    json_t *j = json_loads(ev->value, 0, NULL);
    cr_assert(j, "an event that is not JSON");
    snprintf(id, cap, "%s", json_string_value(json_object_get(j, "id")));
    long v = (long)json_integer_value(json_object_get(json_object_get(j, "data"), "version"));
    json_decref(j);
    return v;
}

/* How many posts have an event on the topic newer than the version the database holds. */
static long long events_ahead(struct kworld *kw, const struct kmsg *evs, size_t n)
{
    long seen[POSTS] = {0};
    char id[64];
    for (size_t i = 0; i < n; i++) {
        long v = event_version(&evs[i], id, sizeof id);
        int k = event_post(&evs[i]);
        cr_assert(k >= 0 && k < POSTS);
        seen[k] = v > seen[k] ? v : seen[k];
    }
    return pg_schema_versions_ahead(kw->pg, "rlx", seen, POSTS);
}

/*
 * Once every command is in the inbox: each (post, version) has exactly one
 * event id on the topic (some twice: at least once), nothing was rejected
 * (none lost, none run out of order), every post is at its last version,
 * and the outbox is empty. Stops the worker.
 */
static void every_version_once(struct kworld *kw)
{
    size_t want = (size_t)POSTS * (VERSIONS + 1);
    for (int i = 0; i < 600 && pg_schema_scalar(kw->pg, "SELECT count(*) FROM inbox") < (long)want;
         i++)
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    struct kmsg *evs;
    size_t n = kworld_read(kw, "post-events", 2 * want, 5000, &evs);
    kworld_stop(kw);
    cr_assert_eq(kw->rc, PW_OK, "%s", kw->err.msg);
    cr_assert_geq(n, want);
    static char ids[POSTS][VERSIONS + 2][64];
    memset(ids, 0, sizeof ids);
    char id[64];
    for (size_t i = 0; i < n; i++) {
        long v = event_version(&evs[i], id, sizeof id);
        int k = event_post(&evs[i]);
        cr_assert(v >= 1 && v <= VERSIONS + 1);
        if (ids[k][v][0])
            cr_assert_str_eq(ids[k][v], id, "post %d version %ld: two different events", k, v);
        snprintf(ids[k][v], sizeof ids[k][v], "%s", id);
    }
    for (int k = 0; k < POSTS; k++)
        for (int v = 1; v <= VERSIONS + 1; v++)
            cr_assert_neq(ids[k][v][0], '\0', "post %d has no event for version %d", k, v);
    kmsgs_free(evs, n);
    n = kworld_read(kw, "post-commands.dlq", 1, 1000, &evs);
    kmsgs_free(evs, n);
    cr_assert_eq(n, 0, "no update was rejected: none lost, none run out of order");
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM posts WHERE version <> %d", VERSIONS + 1);
    cr_assert_eq(pg_schema_scalar(kw->pg, sql), 0);
    cr_assert_eq(pg_schema_scalar(kw->pg, "SELECT count(*) FROM inbox"), (long long)want);
    cr_assert_eq(pg_schema_scalar(kw->pg, "SELECT count(*) FROM outbox"), 0);
}

/* A relaxed worker on PostgreSQL, alone on the test server (it is stopped under it). */
static void relaxed_open(struct kworld *kw)
{
    if (!getenv("PW_PG_OUTAGE") || !getenv("PW_PG_CTL"))
        cr_skip_test("runs alone: PW_PG_OUTAGE=1 with tools/with-postgres (make test does)");
    kworld_open_pg(kw, 50);
    pw_pg_store_relax(kw->pg->store);
}

/* The posts created, and their events out. */
static void relaxed_start(struct kworld *kw)
{
    kworld_preload(kw, "rlx", 0, POSTS);
    kworld_start(kw);
    struct kmsg *evs;
    size_t n = kworld_read(kw, "post-events", POSTS, 60000, &evs);
    kmsgs_free(evs, n);
    cr_assert_eq(n, POSTS);
}

Test(pg_outage, relaxed_durability_publishes_nothing_that_a_crash_of_the_server_loses,
     .timeout = 240)
{
    struct kworld kw;
    relaxed_open(&kw);
    relaxed_start(&kw);
    struct kmsg *evs;
    /* Without the relay's gate, the stream's unflushed commits' events would be on the topic. */
    pg_slow_wal_writer(true);
    /* A stream, not a burst: the server dies while the worker keeps up with it. */
    for (int v = 1; v <= LOST_AT; v++)
        kafka_preload_updates(kw.ks.brokers, "post-commands", "/t", "rlx", 0, POSTS, v, 1);
    pg_server("stop -m immediate");
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    size_t before = kworld_read(&kw, "post-events", (size_t)POSTS * (VERSIONS + 1), 3000, &evs);
    pg_server("start");
    pg_slow_wal_writer(false);
    long long stored = pg_schema_scalar(kw.pg, "SELECT coalesce(sum(version), 0) FROM posts");
    cr_assert_eq(events_ahead(&kw, evs, before), 0,
                 "an event left for a commit the server lost (%zu events, %lld versions stored)",
                 before, stored);
    kmsgs_free(evs, before);
    cr_log_info("%zu events out, %lld of %d versions kept by the server", before, stored,
                POSTS * (LOST_AT + 1));

    /* Back: the lost commands are read again and applied the same way, and the rest follow. */
    for (int v = LOST_AT + 1; v <= VERSIONS; v++)
        kafka_preload_updates(kw.ks.brokers, "post-commands", "/t", "rlx", 0, POSTS, v, 0);
    kworld_start(&kw);
    every_version_once(&kw);
    kworld_close(&kw);
}

/* The pid of the backend of schema s whose statement waits for a lock and starts with like; 0 if none. */
static long long waiting_backend(struct pg_schema *s, const char *like)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
             " AND query LIKE '%s%%' AND pid <> pg_backend_pid()", like);
    return pg_schema_scalar(s, sql);
}

/*
 * A transaction that holds the stored offsets: batches' writers wait for
 * it (at their commit's offsets), their readers do not (the run's record
 * reads them). The caller rolls it back.
 */
static PGconn *lock_offsets(struct kworld *kw)
{
    PGconn *locker = PQconnectdb(getenv("DATABASE_URL"));
    cr_assert_eq(PQstatus(locker), CONNECTION_OK);
    char sql[256];
    snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE \"%s\".consumer_offsets IN SHARE MODE",
             kw->pg->name);
    PGresult *r = PQexec(locker, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return locker;
}

/*
 * Holds the worker at the call named at (its first outbox peek, or its
 * next begin) after a commit (one sent without waiting, if sent), once
 * armed: where a crash of the server loses a commit not yet on disk.
 */
struct hold {
    const char *at;
    bool sent;
    atomic_int armed, committed, held, go;
};

static enum pw_err hold_hook(void *ctx, struct pw_fault *plan, const char *op, const char *id,
                             struct pw_errbuf *err)
{
    (void)plan;
    (void)err;
    struct hold *h = ctx;
    if (strcmp(op, "fault_uow_commit") == 0)
        atomic_store(&h->committed, !h->sent || (id && strcmp(id, "send") == 0));
    if (strcmp(op, h->at) == 0 && atomic_exchange(&h->committed, 0) &&
        atomic_exchange(&h->armed, 0)) {
        atomic_store(&h->held, 1);
        while (!atomic_load(&h->go))
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return PW_OK;
}

/*
 * The same crash under a worker that keeps running, at the worst moment:
 * a batch committed, not yet on disk, its check to come. The server comes
 * back with the WAL's positions of what it lost reused, so that commit
 * cannot be told from a flushed one by its position. The worker must find
 * out and read its partitions again from the stored offsets, not carry on
 * past the lost commands.
 */
/* The WAL writer stopped by a test, let go after it even if it failed (an immediate stop ends it). */
static pid_t stopped_writer;

static void resume_writer(void)
{
    if (stopped_writer > 0)
        kill(stopped_writer, SIGCONT);
}

static void lost_under_a_running_worker(struct hold *h, bool locked)
{
    struct kworld kw;
    /* Locked, one partition: the next batch continues the one the crash takes. */
    kworld_partitions = locked ? 1 : 4;
    relaxed_open(&kw);
    struct pw_fault plan = {.hook = hold_hook, .hook_ctx = h};
    struct pw_uow uow = kw.uow;
    struct pw_outbox outbox = kw.outbox;
    cr_assert_eq(pw_fault_uow_open(&kw.uow, &uow, &plan), PW_OK);
    cr_assert_eq(pw_fault_outbox_open(&kw.outbox, &outbox, &plan), PW_OK);
    relaxed_start(&kw);
    pg_slow_wal_writer(true);
    PGconn *locker = locked ? lock_offsets(&kw) : NULL;
    atomic_store(&h->armed, !locked);
    for (int v = 1; v <= LOST_AT; v++)
        kafka_preload_updates(kw.ks.brokers, "post-commands", "/t", "rlx", 0, POSTS, v, 0);
    if (locked) { /* the relay's round comes and goes while the commit is held */
        for (int i = 0; i < 3000 && !waiting_backend(kw.pg, "INSERT INTO consumer_offsets"); i++)
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        cr_assert(waiting_backend(kw.pg, "INSERT INTO consumer_offsets"),
                  "no batch's commit waited for the lock");
        atomic_store(&h->armed, 1);
        nanosleep(&(struct timespec){0, 500 * 1000 * 1000}, NULL);
        /*
         * Left alone, the WAL writer writes out a lone commit after a
         * pause (it sees no full page to wait for), and the crash would
         * lose nothing: stopped, it leaves the commit in the server's
         * memory, which the crash takes.
         */
        stopped_writer = (pid_t)pg_schema_scalar(
            kw.pg, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'");
        cr_assert(stopped_writer > 0 && kill(stopped_writer, SIGSTOP) == 0,
                  "cannot stop the WAL writer");
        PQclear(PQexec(locker, "ROLLBACK"));
        PQfinish(locker);
    }
    for (int i = 0; i < 3000 && !atomic_load(&h->held); i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    cr_assert(atomic_load(&h->held), "the worker never committed a batch");
    long long seen = pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox");
    pg_server("stop -m immediate");
    pg_server("start");
    pg_slow_wal_writer(false);
    long long kept = pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox");
    cr_log_info("the crash lost %lld of %lld marks", seen - kept, seen);
    cr_assert_lt(kept, seen, "the crash lost no commit: nothing tested");
    atomic_store(&h->go, 1);
    for (int v = LOST_AT + 1; v <= VERSIONS; v++)
        kafka_preload_updates(kw.ks.brokers, "post-commands", "/t", "rlx", 0, POSTS, v, 0);
    every_version_once(&kw);
    pw_uow_close(&uow); /* the wrappers that kworld_close closes only borrow them */
    pw_outbox_close(&outbox);
    kworld_close(&kw);
}

Test(pg_outage, relaxed_durability_reads_again_what_a_crash_lost_under_a_running_worker,
     .timeout = 240)
{
    static struct hold h = {.at = "fault_outbox_peek"};
    lost_under_a_running_worker(&h, false);
}

/*
 * A full batch's relaxed commit goes out without waiting, as a strict one
 * does, and the relay vouches for it only at its next round: the next
 * batch begins before it is known on disk. A lock holds that commit past
 * the relay's round, whose flush then does not cover it; the crash comes
 * once its result is read, at the next begin. The unit of work, on a new
 * connection, must not build that batch on top of the commit the server
 * lost.
 */
Test(pg_outage, relaxed_durability_builds_no_batch_on_a_sent_commit_a_crash_lost,
     .timeout = 240, .fini = resume_writer)
{
    static struct hold h = {.at = "fault_uow_begin", .sent = true};
    lost_under_a_running_worker(&h, true);
}

/*
 * A managed service may revoke pg_logical_emit_message, with which a
 * relaxed relay forces its flushes: the relay then waits for the WAL
 * writer, and every event still goes out, none ahead of the disk. The
 * worker connects as a role of its own (a superuser passes every ACL).
 */
Test(pg_outage, relaxed_durability_without_the_flush_function_waits_for_the_wal_writer,
     .timeout = 120)
{
    if (!getenv("PW_PG_OUTAGE") || !getenv("PW_PG_CTL"))
        cr_skip_test("runs alone: PW_PG_OUTAGE=1 with tools/with-postgres (make test does)");
    pg_admin("DROP ROLE IF EXISTS pw_plain");
    pg_admin("CREATE ROLE pw_plain LOGIN");
    pg_admin("DO $$BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO pw_plain',"
          " current_database()); END$$");
    pg_admin("REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC");
    const char *url = getenv("DATABASE_URL");
    char plain[1024];
    snprintf(plain, sizeof plain, "%s%suser=pw_plain", url, strchr(url, '?') ? "&" : "?");
    char *admin_url = strdup(url);
    setenv("DATABASE_URL", plain, 1);
    struct kworld kw;
    relaxed_open(&kw);
    relaxed_start(&kw); /* each round's flush waited for */
    for (int v = 1; v <= 3; v++)
        kafka_preload_updates(kw.ks.brokers, "post-commands", "/t", "rlx", 0, POSTS, v, 0);
    struct kmsg *evs;
    size_t want = (size_t)POSTS * 4;
    size_t n = kworld_read(&kw, "post-events", want, 60000, &evs);
    kmsgs_free(evs, n);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    cr_assert_geq(n, want);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM outbox"), 0);
    kworld_close(&kw);
    setenv("DATABASE_URL", admin_url, 1);
    free(admin_url);
    pg_admin("GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO PUBLIC");
    pg_admin("DROP OWNED BY pw_plain");
    pg_admin("DROP ROLE pw_plain");
}

Test(pg_worker, the_inbox_forgets_marks_older_than_its_retention_a_batch_at_a_time,
     .timeout = 120)
{
    enum { N = 2500 };
    struct kworld kw;
    kworld_open_pg(&kw, 100);
    kworld_preload(&kw, "ret", 0, N);
    kworld_start(&kw);
    struct kmsg *evs;
    size_t n = kworld_read(&kw, "post-events", N, 60000, &evs);
    kmsgs_free(evs, n);
    cr_assert_eq(n, N);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox"), N);
    struct pw_store st;
    struct pw_metrics m;
    struct pw_pruner *pruner;
    pw_metrics_init(&m, "test", "post-commands");
    cr_assert_eq(pw_pg_store_open(&st, kw.pg->store), PW_OK);
    cr_assert_eq(pw_pruner_start(&pruner, &st, 1000, &kw.ks, "post-commands", &m), PW_OK);
    cr_assert_not_null(pruner);
    /* Newer marks stay: these arrive while the old ones are pruned. */
    kworld_preload(&kw, "ret", N, 10);
    for (int i = 0; i < 300 && atomic_load(&m.inbox_pruned) < N; i++)
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    cr_assert_geq(atomic_load(&m.inbox_pruned), N, "the old marks went, counted");
    long long left = pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox");
    cr_assert(left <= 10, "%lld marks left", left);
    for (int i = 0; i < 100 && pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox") > 0; i++)
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox"), 0,
                 "and the newer ones once they are old");
    cr_assert_eq(atomic_load(&m.inbox_pruned), N + 10);
    pw_pruner_stop(pruner);
    pw_store_close(&st);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts"), N + 10);
    kworld_close(&kw);
}

/*
 * A batch's last writes and its COMMIT go out without waiting, and the
 * worker runs on. If that commit then fails (here: its backend is killed
 * while the offsets' upsert waits for a lock, so it can never commit),
 * the batch's commands were taken from the stream and not applied: the
 * worker must find out at its next step and read its partitions again
 * from the stored offsets. Were the failure missed, the batch's posts
 * would stay a version behind and every later update of them be rejected.
 */
Test(pg_worker, a_commit_sent_without_waiting_that_fails_is_read_again, .timeout = 180)
{
    struct kworld kw;
    kworld_open_pg(&kw, 50);
    relaxed_start(&kw); /* strict here: only the posts created, and their events out */
    PGconn *locker = lock_offsets(&kw);
    kafka_preload_updates(kw.ks.brokers, "post-commands", "/t", "rlx", 0, POSTS, 1, 0);
    long long pid = 0;
    for (int i = 0; i < 3000 && !(pid = waiting_backend(kw.pg, "INSERT INTO consumer_offsets")); i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    cr_assert_gt(pid, 0, "no batch's commit waited for the lock");
    long long marks = pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox");
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", pid);
    PGresult *r = PQexec(locker, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQclear(PQexec(locker, "ROLLBACK"));
    PQfinish(locker);
    cr_assert_eq(marks, POSTS, "the batch held by the lock is not in the inbox yet");
    for (int v = 2; v <= VERSIONS; v++)
        kafka_preload_updates(kw.ks.brokers, "post-commands", "/t", "rlx", 0, POSTS, v, 0);
    every_version_once(&kw);
    kworld_close(&kw);
}

/*
 * The database refuses one command's event, a write of the part of the
 * commit that is sent without waiting: the commit fails after the worker
 * moved on. It reads the batch again, and this time commits waiting, so
 * that the refusal comes back where the failure path finds the command
 * (by halves): dead-lettered apply_failed, its post parked, every other
 * command applied once. Without the waiting commits after a loss, the
 * worker would read the batch again and again.
 */
Test(pg_worker, an_event_the_database_refuses_after_the_commit_was_sent_is_found, .timeout = 180)
{
    struct kworld kw;
    kworld_open_pg(&kw, 50);
    char sql[256];
    snprintf(sql, sizeof sql,
             "ALTER TABLE \"%s\".outbox ADD CONSTRAINT no_evil CHECK (post_id IS DISTINCT FROM 'ev-7')",
             kw.pg->name);
    pg_admin(sql);
    kworld_preload(&kw, "ev", 0, 100);
    kworld_start(&kw);
    struct kmsg *evs;
    size_t n = kworld_read(&kw, "post-commands.dlq", 1, 60000, &evs);
    cr_assert_eq(n, 1, "the refused command is dead-lettered");
    cr_assert_str_eq(evs[0].key, "ev-7");
    cr_assert_str_eq(kmsg_header(&evs[0], "dlq.error.code"), "apply_failed");
    kmsgs_free(evs, n);
    n = kworld_read(&kw, "post-events", 200, 10000, &evs);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    cr_assert_eq(n, 99, "every other command's event, once");
    for (size_t i = 0; i < n; i++)
        cr_assert_str_neq(evs[i].key, "ev-7");
    kmsgs_free(evs, n);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts"), 99);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM parked_posts WHERE post_id = 'ev-7'"),
                 1);
    kworld_close(&kw);
}

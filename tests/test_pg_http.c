/* The read API on PostgreSQL (tests/http_cases.c). */
#include "tests/http_contract.h"
#include "tests/helpers.h"
#include "tests/pg_world.h"

#define HTTP_SUITE_NAME http_pg
#define HTTP_ADAPTER store_pg_adapter
HTTP_CONTRACT_SUITE()

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "adapters/curl/curl.h"
#include "adapters/http/http.h"

static long long http_pg_mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct held_read {
    char url[128];
    long status;
    long long took_ms;
};

static void *held_read(void *arg)
{
    struct held_read *r = arg;
    struct pw_http_reply reply;
    struct pw_errbuf err;
    long long t0 = http_pg_mono_ms();
    r->status = pw_curl_get(r->url, NULL, 20000, &reply, &err) == PW_OK ? reply.status : -1;
    r->took_ms = http_pg_mono_ms() - t0;
    if (r->status > 0)
        pw_http_reply_release(&reply);
    return NULL;
}

/*
 * A database that takes the read side's statements and never answers them
 * (here: locks held on posts and parked_posts) holds no listener thread
 * past its bound: eight reads at once, more than the pool's connections,
 * each a 503 within the listener's 5 s bound on a request; the probes
 * answer meanwhile (one on a thread held by a read, once that read's bound
 * passed), and once the locks go the same connections read again.
 */
Test(http_pg_bounds, a_read_that_the_database_holds_is_a_503_within_its_bound, .timeout = 60)
{
    struct pg_schema schema;
    pg_schema_open(&schema);
    struct pw_query q;
    cr_assert_eq(pw_pg_query_open(&q, schema.store), PW_OK);
    struct pw_metrics m;
    pw_metrics_init(&m, "test", "post-commands");
    struct pw_http *h;
    struct pw_errbuf err;
    cr_assert_eq(pw_http_start(&h, "127.0.0.1:0", &m, NULL, &err), PW_OK, "%s", err.msg);
    pw_http_serve_query(h, &q, false);
    char base[64], url[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", pw_http_port(h));

    PGconn *locker = PQconnectdb(getenv("DATABASE_URL"));
    cr_assert_eq(PQstatus(locker), CONNECTION_OK);
    char sql[256];
    snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE \"%s\".posts, \"%s\".parked_posts IN ACCESS EXCLUSIVE MODE",
             schema.name, schema.name);
    PGresult *r = PQexec(locker, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);

    static const char *paths[] = {"/posts/p-1", "/posts?limit=5", "/parked", "/posts/p-2",
                                  "/posts/p-3", "/posts?author=A", "/parked", "/posts/p-4"};
    struct held_read reads[8];
    pthread_t threads[8];
    for (size_t i = 0; i < 8; i++) {
        snprintf(reads[i].url, sizeof reads[i].url, "%s%s", base, paths[i]);
        cr_assert_eq(pthread_create(&threads[i], NULL, held_read, &reads[i]), 0);
    }
    nanosleep(&(struct timespec){0, 500 * 1000000L}, NULL);
    struct pw_http_reply reply;
    snprintf(url, sizeof url, "%s/healthz", base);
    /* A probe on a thread that holds a read waits for that read's bound, no longer. */
    cr_assert_eq(pw_curl_get(url, NULL, PW_HTTP_REQUEST_MS, &reply, &err), PW_OK,
                 "the probes answer while the reads are held: %s", err.msg);
    cr_assert_eq(reply.status, 200);
    pw_http_reply_release(&reply);
    for (size_t i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        cr_assert_eq(reads[i].status, 503, "%s under a held lock: %ld", paths[i], reads[i].status);
        cr_assert_lt(reads[i].took_ms, PW_HTTP_REQUEST_MS, "%s: answered in %lld ms", paths[i],
                     reads[i].took_ms);
    }

    PQclear(PQexec(locker, "ROLLBACK"));
    PQfinish(locker);
    /* For a second after a held read, reads are a 503 at once; then they ask again. */
    snprintf(url, sizeof url, "%s/posts/p-1", base);
    long status = 0;
    for (int i = 0; i < 30 && status != 404; i++) {
        cr_assert_eq(pw_curl_get(url, NULL, 5000, &reply, &err), PW_OK, "%s", err.msg);
        status = reply.status;
        pw_http_reply_release(&reply);
        if (status != 404)
            nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
    cr_assert_eq(status, 404, "read again once the lock is gone: %ld", status);
    pw_http_stop(h);
    pw_query_close(&q);
    pg_schema_close(&schema);
}

/* The read API on PostgreSQL (tests/http_cases.c). */
#include "tests/http_contract.h"
#include "tests/helpers.h"
#include "tests/pg_world.h"

#define HTTP_SUITE_NAME http_pg
#define HTTP_ADAPTER store_pg_adapter
HTTP_CONTRACT_SUITE()

#include <libpq-fe.h>
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

/*
 * A database that takes the read side's statements and never answers them
 * (here: a lock held on posts) holds no listener thread past its bound: the
 * read is a 503 within PW_PG_QUERY_TIMEOUT_MS, the probes answer meanwhile,
 * and once the lock goes the same connections read again.
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
    snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE \"%s\".posts IN ACCESS EXCLUSIVE MODE", schema.name);
    PGresult *r = PQexec(locker, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);

    struct pw_http_reply reply;
    const char *paths[] = {"/posts/p-1", "/posts?limit=5"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(url, sizeof url, "%s%s", base, paths[i]);
        long long t0 = http_pg_mono_ms();
        cr_assert_eq(pw_curl_get(url, NULL, 20000, &reply, &err), PW_OK, "%s: %s", paths[i], err.msg);
        long long took = http_pg_mono_ms() - t0;
        cr_assert_eq(reply.status, 503, "%s under a held lock: %ld", paths[i], reply.status);
        cr_assert_lt(took, PW_PG_QUERY_TIMEOUT_MS + 1500, "%s: answered in %lld ms", paths[i], took);
        pw_http_reply_release(&reply);
    }
    snprintf(url, sizeof url, "%s/healthz", base);
    cr_assert_eq(pw_curl_get(url, NULL, 2000, &reply, &err), PW_OK, "%s", err.msg);
    pw_http_reply_release(&reply);

    PQclear(PQexec(locker, "ROLLBACK"));
    PQfinish(locker);
    snprintf(url, sizeof url, "%s/posts/p-1", base);
    cr_assert_eq(pw_curl_get(url, NULL, 5000, &reply, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(reply.status, 404, "read again once the lock is gone: %ld", reply.status);
    pw_http_reply_release(&reply);
    pw_http_stop(h);
    pw_query_close(&q);
    pg_schema_close(&schema);
}

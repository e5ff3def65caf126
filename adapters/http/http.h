/*
 * The HTTP listener (libmicrohttpd): liveness, readiness, Prometheus
 * metrics and the read API over plain HTTP/1.1, served from threads of its
 * own (PW_HTTP_THREADS polling ones, and one that answers waits) that read
 * only the metrics' atomics and the query port, so that they never block
 * the batch loop and the loop never blocks them.
 *
 *   GET /healthz  200 while the loop turned (or waited out a dependency)
 *                 within the last PW_HTTP_STUCK_MS; 503 when it is stuck
 *   GET /readyz   200 once it joined its group and Kafka and the store
 *                 answer, and it is not stalled (partitions with lag and no
 *                 batch run for PW_HTTP_STALLED_MS); 503 otherwise, with the
 *                 reason in the JSON body
 *   GET /metrics  the Prometheus text exposition format, version 0.0.4
 *   GET /posts/{post_id}, /posts, /commands, /parked
 *                 the read API (read_http.c), once a query port is given
 */
#ifndef PW_ADAPTERS_HTTP_HTTP_H
#define PW_ADAPTERS_HTTP_HTTP_H

#include <stdio.h>

#include "domain/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/query.h"

#define PW_HTTP_STUCK_MS 30000
/* Not ready: partitions with lag and no batch run for this long. */
#define PW_HTTP_STALLED_MS 30000

/*
 * Bounds that keep the probes answerable under a flood (http_mhd.c): the
 * connections in all and from one client address, the longest a request
 * may take from its connection's start or the answer before it (however
 * many bytes trickle in), and the most a request's headers may hold. One
 * address may hold half the connections: a proxy in front of readers is
 * one address, and the other half stays for everyone else (the probes).
 */
#define PW_HTTP_CONNECTIONS 256
/*
 * The threads that poll them, each its share: as many as the read side's
 * pool has database connections (PW_PG_QUERY_CONNS), so that while one
 * thread waits for PostgreSQL another renders. With two, a page of 50 on
 * PostgreSQL went 4,071-4,723/s, with four 5,145-5,462 (make bench-http,
 * alternating, docs/benchmark.md).
 */
#define PW_HTTP_THREADS 4
#define PW_HTTP_PER_CLIENT 128
#define PW_HTTP_REQUEST_MS 5000
#define PW_HTTP_REQUEST_BYTES 16384

struct pw_http;

/*
 * Listens at addr ("HOST:PORT", "[V6]:PORT" or ":PORT" for every
 * interface; port 0 picks a free one) and serves m (borrowed; it outlives
 * the listener). Connections it turns away or cuts off are said through
 * log (may be NULL), at most a line per 10 s. PW_E_USAGE, with err, for an
 * address it cannot use.
 */
enum pw_err pw_http_start(struct pw_http **out, const char *addr, const struct pw_metrics *m,
                          pw_log_fn log, struct pw_errbuf *err);

/*
 * Answers the read API from q from now on (borrowed, shared by the
 * listener's threads, outliving the listener); before it, 503. serve_only
 * (postworker serve): no loop and no Kafka, so /readyz asks only that the
 * store answers (the store's dependency gauge), and /healthz that the
 * caller keeps the heartbeat.
 */
void pw_http_serve_query(struct pw_http *h, struct pw_query *q, bool serve_only);

/* The port it listens on. */
int pw_http_port(const struct pw_http *h);

/* Stops the thread and frees h; NULL is fine. */
void pw_http_stop(struct pw_http *h);

/* The exposition of m, as GET /metrics answers it (exposition.c). */
void pw_metrics_write(const struct pw_metrics *m, FILE *out);

#endif

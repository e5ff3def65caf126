/*
 * The listener on libmicrohttpd: PW_HTTP_THREADS threads, each polling
 * its share of the connections with epoll. A read that waits on the store
 * (GET /commands?wait=) suspends its connection and is answered by a
 * thread of its own (read_http.c), so that it holds up nobody. Each answer
 * is built in memory from the metrics' atomics or the query port and
 * handed to libmicrohttpd to free: the HTTP threads allocate, the batch
 * loop never waits for them.
 *
 * A flood cannot take the probes away: one client holds at most
 * PW_HTTP_PER_CLIENT of the PW_HTTP_CONNECTIONS connections, a request
 * larger than PW_HTTP_REQUEST_BYTES is refused, and a reaper thread shuts
 * every connection whose request (counted from its start, or from the
 * answer before it) takes longer than PW_HTTP_REQUEST_MS, however many
 * bytes trickle in: libmicrohttpd's own timeout is on idleness, which a
 * byte a second defeats.
 */
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "adapters/http/http_int.h"
#include "domain/text.h"

int http_first_call;

/* A line about the listener, at most one per 10 s: the ones in between are counted. */
static void http_say(struct pw_http *h, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int64_t now = pw_metrics_now_ms();
    pthread_mutex_lock(&h->lock);
    bool show = h->said_ms == 0 || now - h->said_ms >= 10000;
    unsigned held = h->held;
    if (show) {
        h->said_ms = now;
        h->held = 0;
    } else {
        h->held++;
    }
    pthread_mutex_unlock(&h->lock);
    if (!show)
        return;
    char line[64] = "";
    if (held)
        snprintf(line, sizeof line, " (and %u more such lines held back)", held);
    pw_logf(h->log, "warn", "http: %s%s", msg, line);
}

/* libmicrohttpd's own lines: connections turned away, requests too large. */
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    http_say(cls, "%s", msg);
}

static void http_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                                   enum MHD_ConnectionNotificationCode toe)
{
    struct pw_http *h = cls;
    pthread_mutex_lock(&h->lock);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (size_t i = 0; info && i < PW_HTTP_CONNECTIONS; i++)
            if (!h->conns[i].used) {
                h->conns[i] = (struct http_conn){.fd = info->connect_fd, .since_ms = pw_metrics_now_ms(), .used = true};
                *socket_context = &h->conns[i];
                break;
            }
    } else if (*socket_context) { /* closed: before libmicrohttpd closes the socket */
        ((struct http_conn *)*socket_context)->used = false;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&h->lock);
}

/* An answer went out: the connection's next request has a deadline of its own. */
static void http_notify_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                                  enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct pw_http *h = cls;
    if (*con_cls && *con_cls != &http_first_call)
        http_suspended_free(*con_cls);
    *con_cls = NULL;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    pthread_mutex_lock(&h->lock);
    struct http_conn *conn = info ? info->socket_context : NULL;
    if (conn && conn->used && conn->since_ms != INT64_MAX) {
        conn->since_ms = pw_metrics_now_ms();
        conn->grace_ms = 0;
    }
    pthread_mutex_unlock(&h->lock);
}

void http_grace(struct pw_http *h, struct MHD_Connection *c, int64_t ms)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    pthread_mutex_lock(&h->lock);
    struct http_conn *conn = info ? info->socket_context : NULL;
    if (conn && conn->used && conn->since_ms != INT64_MAX) {
        conn->since_ms = pw_metrics_now_ms(); /* the wait counts from its own start */
        conn->grace_ms = ms;
    }
    pthread_mutex_unlock(&h->lock);
}

/* Shuts every connection whose request ran past its deadline; libmicrohttpd then closes it. */
static void *http_reap(void *arg)
{
    struct pw_http *h = arg;
    while (!atomic_load(&h->stopping)) {
        nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
        int64_t now = pw_metrics_now_ms();
        int shut = 0;
        pthread_mutex_lock(&h->lock);
        for (size_t i = 0; i < PW_HTTP_CONNECTIONS; i++) {
            struct http_conn *conn = &h->conns[i];
            if (conn->used && conn->since_ms != INT64_MAX &&
                now - conn->since_ms > PW_HTTP_REQUEST_MS + conn->grace_ms) {
                shutdown(conn->fd, SHUT_RDWR);
                conn->since_ms = INT64_MAX;
                shut++;
            }
        }
        pthread_mutex_unlock(&h->lock);
        if (shut)
            http_say(h, "closed %d connections whose request took over %d s (slow or stalled "
                     "clients)", shut, PW_HTTP_REQUEST_MS / 1000);
    }
    return NULL;
}

static const char *dep_state(const struct pw_metrics *m, enum pw_metric_dependency d)
{
    int v = atomic_load(&m->dependency_up[d]);
    return v > 0 ? "up" : v == 0 ? "down" : "unknown";
}

/*
 * Why the worker is not ready, into why (empty when it is): not joined
 * yet, a dependency down or not known, or partitions with lag and no batch
 * run for PW_HTTP_STALLED_MS.
 */
static void not_ready_because(const struct pw_metrics *m, char *why, size_t size)
{
    int64_t lagging = 0, since = pw_metrics_mono_ms() - atomic_load(&m->progress_ms);
    for (int p = 0; p < PW_METRICS_MAX_PARTITIONS; p++)
        lagging += atomic_load_explicit(&m->lag[p], memory_order_relaxed) > 0;
    why[0] = '\0';
    if (atomic_load(&m->dependency_up[PW_M_STORE]) == 0)
        snprintf(why, size, "the store is down");
    else if (atomic_load(&m->dependency_up[PW_M_KAFKA]) == 0)
        snprintf(why, size, "Kafka is down");
    else if (!atomic_load(&m->joined))
        snprintf(why, size, "not joined its consumer group yet");
    else if (atomic_load(&m->dependency_up[PW_M_STORE]) != 1)
        snprintf(why, size, "the store is not known to answer yet");
    else if (atomic_load(&m->dependency_up[PW_M_KAFKA]) != 1)
        snprintf(why, size, "Kafka is not known to answer yet");
    else if (lagging && since > PW_HTTP_STALLED_MS)
        snprintf(why, size, "%lld partitions have lag and no batch ran for %lld s",
                 (long long)lagging, (long long)since / 1000);
}

static enum MHD_Result health(struct MHD_Connection *c, const struct pw_http *h, bool ready)
{
    const struct pw_metrics *m = h->m;
    int64_t ago = pw_metrics_mono_ms() - atomic_load(&m->heartbeat_ms);
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    if (!out)
        return MHD_NO;
    bool ok;
    if (ready && h->serve_only) { /* postworker serve: the store is all it needs */
        int store = atomic_load(&m->dependency_up[PW_M_STORE]);
        ok = store == 1;
        fprintf(out, "{\"ready\":%s,\"store\":\"%s\"", ok ? "true" : "false",
                dep_state(m, PW_M_STORE));
        if (!ok)
            fprintf(out, ",\"reason\":\"%s\"", store ? "the store is not known to answer yet"
                                                      : "the store is down");
        fputs("}\n", out);
    } else if (ready) {
        char why[160];
        not_ready_because(m, why, sizeof why);
        ok = !why[0];
        fprintf(out, "{\"ready\":%s,\"joined\":%s,\"kafka\":\"%s\",\"store\":\"%s\"",
                ok ? "true" : "false", atomic_load(&m->joined) ? "true" : "false",
                dep_state(m, PW_M_KAFKA), dep_state(m, PW_M_STORE));
        if (!ok)
            fprintf(out, ",\"reason\":\"%s\"", why);
        fputs("}\n", out);
    } else {
        ok = ago < PW_HTTP_STUCK_MS;
        fprintf(out, "{\"live\":%s,\"loop_turned_seconds_ago\":%.1f}\n", ok ? "true" : "false",
                (double)ago / 1000);
    }
    fclose(out);
    return http_answer(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
                       body, len, true);
}

static enum MHD_Result route(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    struct pw_http *h = cls;
    /*
     * The first call comes once the headers are in: answering then, before
     * the (empty) body is read, makes libmicrohttpd close the connection
     * after the answer. The second call, with the request whole, answers
     * and keeps it alive. A body that is sent anyway is read and dropped.
     */
    if (!*state) {
        *state = &http_first_call;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof "{\"error\":\"method_not_allowed\",\"message\":\"only GET and HEAD\"}" - 1,
            "{\"error\":\"method_not_allowed\",\"message\":\"only GET and HEAD\"}",
            MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
        MHD_destroy_response(r);
        return rc;
    }
    enum MHD_Result result;
    if (strcmp(url, "/healthz") == 0)
        return health(c, h, false);
    if (strcmp(url, "/readyz") == 0)
        return health(c, h, true);
    if (http_read_route(h, c, url, state, &result))
        return result;
    if (strcmp(url, "/metrics") != 0)
        return http_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                          "no such path: try /posts, /commands, /parked, /healthz, /readyz or "
                          "/metrics");
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    if (!out)
        return MHD_NO;
    pw_metrics_write(h->m, out);
    fclose(out);
    return http_answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len,
                       true);
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * Decodes %HH in a path or query value, in place, but leaves %00 as it is:
 * a NUL would cut the value short where C reads it ("p-1%00junk" would be
 * read as "p-1"), so it stays text, which no check takes.
 */
static size_t http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r; w++) {
        int hi = r[0] == '%' ? hex_digit(r[1]) : -1, lo = hi >= 0 ? hex_digit(r[2]) : -1;
        if (lo >= 0 && (hi | lo)) {
            *w = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" (host NULL) in place. */
static bool split_addr(char *s, char **host, char **port)
{
    char *colon = strrchr(s, ':');
    if (!colon || !colon[1])
        return false;
    *colon = '\0';
    *port = colon + 1;
    *host = s;
    if (s[0] == '[') {
        size_t n = strlen(s);
        if (n < 2 || s[n - 1] != ']')
            return false;
        s[n - 1] = '\0';
        *host = s + 1;
    }
    if (!**host)
        *host = NULL;
    return strspn(*port, "0123456789") == strlen(*port) && strlen(*port) <= 5 &&
           atoi(*port) <= 65535;
}

enum pw_err pw_http_start(struct pw_http **out, const char *addr, const struct pw_metrics *m,
                          pw_log_fn log, struct pw_errbuf *err)
{
    *out = NULL;
    char buf[300], *host, *port;
    if (strlen(addr) >= sizeof buf || !(strcpy(buf, addr), split_addr(buf, &host, &port)))
        return pw_err_set(err, PW_E_USAGE, "--http '%.60s' is not HOST:PORT (e.g. 127.0.0.1:9464)",
                          addr);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai)
        return pw_err_set(err, PW_E_USAGE, "--http '%.60s': %s", addr, gai_strerror(gai));
    struct pw_http *h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(ai);
        return pw_err_set(err, PW_E_NOMEM, "out of memory for the HTTP listener");
    }
    h->m = m;
    h->log = log;
    h->waits_closed = true; /* no waiter yet: a wait answers at once */
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->wait_lock, NULL);
    pthread_mutex_init(&h->lookup_lock, NULL);
    pthread_cond_init(&h->lookup_cond, NULL);
    h->lookups_closed = true; /* no batcher yet */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, route, h, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)PW_HTTP_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)PW_HTTP_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PW_HTTP_PER_CLIENT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(PW_HTTP_REQUEST_MS / 1000),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PW_HTTP_REQUEST_BYTES,
        MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, http_notify_connection, h,
        MHD_OPTION_NOTIFY_COMPLETED, http_notify_completed, h, MHD_OPTION_END);
    freeaddrinfo(ai);
    h->reaping = h->daemon && pthread_create(&h->reaper, NULL, http_reap, h) == 0;
    if (h->daemon && !h->reaping) {
        MHD_stop_daemon(h->daemon);
        pthread_mutex_destroy(&h->lock);
        pthread_mutex_destroy(&h->wait_lock);
        pthread_mutex_destroy(&h->lookup_lock);
        pthread_cond_destroy(&h->lookup_cond);
        free(h);
        return pw_err_set(err, PW_E_NOMEM, "cannot start the HTTP listener's reaper thread");
    }
    if (!h->daemon) {
        pthread_mutex_destroy(&h->lock);
        pthread_mutex_destroy(&h->wait_lock);
        pthread_mutex_destroy(&h->lookup_lock);
        pthread_cond_destroy(&h->lookup_cond);
        free(h);
        return pw_err_set(err, PW_E_USAGE,
                          "cannot listen at --http '%.60s': is the port in use, or the host not "
                          "this machine's?",
                          addr);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    *out = h;
    return PW_OK;
}

void pw_http_serve_query(struct pw_http *h, struct pw_query *q, bool serve_only)
{
    if (h) {
        h->serve_only = serve_only;
        atomic_store(&h->query, q);
        if (!h->waiter_running && !http_waiter_start(h))
            http_say(h, "cannot start the thread that answers waits: a wait answers at once");
        if (q->ops->batches && !h->batching && !http_batcher_start(h))
            http_say(h, "cannot start the thread that gathers lookups: each reads alone");
    }
}

int pw_http_port(const struct pw_http *h)
{
    return h->port;
}

void pw_http_stop(struct pw_http *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, true);
    http_waiter_stop(h); /* every suspended connection resumed: the daemon can stop */
    http_batcher_stop(h);
    if (h->reaping)
        pthread_join(h->reaper, NULL);
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->wait_lock);
    pthread_mutex_destroy(&h->lookup_lock);
    pthread_cond_destroy(&h->lookup_cond);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

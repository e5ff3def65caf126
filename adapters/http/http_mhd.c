/*
 * The listener on libmicrohttpd, in its own polling thread. Each answer is
 * built in memory (open_memstream) from the metrics' atomics and handed to
 * libmicrohttpd to free: the HTTP thread allocates, the batch loop never
 * waits for it.
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

#include "adapters/http/http.h"
#include "domain/text.h"

/* A connection the reaper watches: its socket, and since when its request runs. */
struct http_conn {
    int fd;
    int64_t since_ms; /* INT64_MAX once shut */
    bool used;
};

struct pw_http {
    struct MHD_Daemon *daemon;
    const struct pw_metrics *m;
    struct pw_store *_Atomic store; /* for GET /parked; NULL until the store is open */
    int port;
    pw_log_fn log;
    pthread_mutex_t lock; /* conns and the log's repeat count */
    struct http_conn conns[PW_HTTP_CONNECTIONS];
    pthread_t reaper;
    bool reaping;
    atomic_bool stopping;
    int64_t said_ms; /* when a line was last logged, and how many were held back since */
    unsigned held;
};

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
                h->conns[i] = (struct http_conn){info->connect_fd, pw_metrics_now_ms(), true};
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
    (void)con_cls;
    (void)toe;
    struct pw_http *h = cls;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    pthread_mutex_lock(&h->lock);
    struct http_conn *conn = info ? info->socket_context : NULL;
    if (conn && conn->used && conn->since_ms != INT64_MAX)
        conn->since_ms = pw_metrics_now_ms();
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
                now - conn->since_ms > PW_HTTP_REQUEST_MS) {
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

/* Queues body (len bytes; freed by libmicrohttpd when ours, else static) with status. */
static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
                              char *body, size_t len, bool ours)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, ours ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (ours)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
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

static enum MHD_Result health(struct MHD_Connection *c, const struct pw_metrics *m, bool ready)
{
    int64_t ago = pw_metrics_mono_ms() - atomic_load(&m->heartbeat_ms);
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    if (!out)
        return MHD_NO;
    bool ok;
    if (ready) {
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
    return answer(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", body,
                  len, true);
}

/* Queues a JSON error body: {"error": code, "message": text}. */
static enum MHD_Result answer_error(struct MHD_Connection *c, unsigned status, const char *code,
                                    const char *message)
{
    json_t *body = json_pack("{s:s, s:s}", "error", code, "message", message);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text ? answer(c, status, "application/json", text, strlen(text), true) : MHD_NO;
}

/* s as a JSON string, its bytes made valid UTF-8 first if they are not. */
static json_t *text_json(const char *s)
{
    json_t *v = json_string(s);
    char *copy = v ? NULL : strdup(s);
    if (copy) {
        pw_text_scrub(copy);
        v = json_string(copy);
        free(copy);
    }
    return v;
}

/* One parked post as JSON; the failed command's source and id came from a message. */
static json_t *parked_json(const struct pw_parked *p, int64_t now)
{
    json_t *failed = json_pack("{s:s, s:s, s:I, s:I}", "code", pw_err_name(p->code), "topic",
                               p->topic, "partition", (json_int_t)p->partition, "offset",
                               (json_int_t)p->offset);
    if (failed && p->id[0]) {
        json_object_set_new(failed, "source", text_json(p->source));
        json_object_set_new(failed, "id", text_json(p->id));
    }
    json_t *post = json_pack("{s:s, s:s, s:o, s:I, s:f}", "post_id", p->post_id, "state",
                             p->draining ? "draining" : "parked", "failed", failed, "held",
                             (json_int_t)p->held, "parked_age_seconds",
                             (double)((now - p->parked_ms) / 10) / 100);
    if (post)
        json_object_set_new(post, "oldest_held_age_seconds",
                            p->held ? json_real((double)((now - p->oldest_ms) / 10) / 100)
                                    : json_null());
    return post;
}

/* GET /parked: every parked post, in post_id order. */
static enum MHD_Result http_parked(struct MHD_Connection *c, struct pw_store *store)
{
    if (!store)
        return answer_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                            "the store is not open yet");
    static struct pw_parked page[100]; /* the listener's one thread uses it */
    char after[PW_POST_ID_MAX + 1] = "";
    json_t *list = json_array();
    int64_t now = pw_metrics_now_ms();
    size_t n = 0;
    struct pw_errbuf err;
    enum pw_err rc;
    while (list && (rc = pw_store_parked_list(store, after, page, 100, &n, &err)) == PW_OK && n) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, parked_json(&page[i], now));
        snprintf(after, sizeof after, "%s", page[n - 1].post_id);
    }
    if (!list)
        return MHD_NO;
    if (rc) {
        json_decref(list);
        return answer_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", err.msg);
    }
    json_t *body = json_pack("{s:o}", "parked", list);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(body);
    return text ? answer(c, MHD_HTTP_OK, "application/json", text, strlen(text), true) : MHD_NO;
}

static enum MHD_Result route(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    const struct pw_http *h = cls;
    static char not_allowed[] = "only GET and HEAD\n";
    static char not_found[] = "not found: try /healthz, /readyz, /metrics or /parked\n";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
                      sizeof not_allowed - 1, false);
    if (strcmp(url, "/healthz") == 0)
        return health(c, h->m, false);
    if (strcmp(url, "/readyz") == 0)
        return health(c, h->m, true);
    if (strcmp(url, "/parked") == 0)
        return http_parked(c, atomic_load(&((struct pw_http *)cls)->store));
    if (strcmp(url, "/metrics") != 0)
        return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof not_found - 1, false);
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    if (!out)
        return MHD_NO;
    pw_metrics_write(h->m, out);
    fclose(out);
    return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len, true);
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
    pthread_mutex_init(&h->lock, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, route, h, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)PW_HTTP_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PW_HTTP_PER_CLIENT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(PW_HTTP_REQUEST_MS / 1000),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PW_HTTP_REQUEST_BYTES,
        MHD_OPTION_NOTIFY_CONNECTION, http_notify_connection, h,
        MHD_OPTION_NOTIFY_COMPLETED, http_notify_completed, h, MHD_OPTION_END);
    freeaddrinfo(ai);
    h->reaping = h->daemon && pthread_create(&h->reaper, NULL, http_reap, h) == 0;
    if (h->daemon && !h->reaping) {
        MHD_stop_daemon(h->daemon);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return pw_err_set(err, PW_E_NOMEM, "cannot start the HTTP listener's reaper thread");
    }
    if (!h->daemon) {
        pthread_mutex_destroy(&h->lock);
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

void pw_http_serve_store(struct pw_http *h, struct pw_store *store)
{
    if (h)
        atomic_store(&h->store, store);
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
    if (h->reaping)
        pthread_join(h->reaper, NULL);
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

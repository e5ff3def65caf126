/*
 * The listener on libmicrohttpd, in its own polling thread. Each answer is
 * built in memory (open_memstream) from the metrics' atomics and handed to
 * libmicrohttpd to free: the HTTP thread allocates, the batch loop never
 * waits for it.
 */
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "adapters/http/http.h"
#include "domain/text.h"

struct pw_http {
    struct MHD_Daemon *daemon;
    const struct pw_metrics *m;
    struct pw_store *_Atomic store; /* for GET /parked; NULL until the store is open */
    int port;
};

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

static bool up(const struct pw_metrics *m, enum pw_metric_dependency d)
{
    return atomic_load(&m->dependency_up[d]) != 0;
}

static enum MHD_Result health(struct MHD_Connection *c, const struct pw_metrics *m, bool ready)
{
    int64_t ago = pw_metrics_now_ms() - atomic_load(&m->heartbeat_ms);
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    if (!out)
        return MHD_NO;
    bool ok;
    if (ready) {
        bool joined = atomic_load(&m->joined);
        ok = joined && up(m, PW_M_KAFKA) && up(m, PW_M_STORE);
        fprintf(out, "{\"ready\":%s,\"joined\":%s,\"kafka\":\"%s\",\"store\":\"%s\"}\n",
                ok ? "true" : "false", joined ? "true" : "false",
                up(m, PW_M_KAFKA) ? "up" : "down", up(m, PW_M_STORE) ? "up" : "down");
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
                          struct pw_errbuf *err)
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
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, route, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT,
                                 10u, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->daemon) {
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
    MHD_stop_daemon(h->daemon);
    free(h);
}

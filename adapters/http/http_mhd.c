/*
 * The listener on libmicrohttpd, in its own polling thread. Each answer is
 * built in memory (open_memstream) from the metrics' atomics and handed to
 * libmicrohttpd to free: the HTTP thread allocates, the batch loop never
 * waits for it.
 */
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "adapters/http/http.h"

struct pw_http {
    struct MHD_Daemon *daemon;
    const struct pw_metrics *m;
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
    static char not_found[] = "not found: try /healthz, /readyz or /metrics\n";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
                      sizeof not_allowed - 1, false);
    if (strcmp(url, "/healthz") == 0)
        return health(c, h->m, false);
    if (strcmp(url, "/readyz") == 0)
        return health(c, h->m, true);
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

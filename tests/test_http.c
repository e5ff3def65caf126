/*
 * The HTTP listener under a flood: slow clients that trickle a request a
 * byte at a time, and one that sends too much, never make the probes
 * unreachable, and the listener says when it turns connections away.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "adapters/curl/curl.h"
#include "adapters/http/http.h"

static atomic_int refused_lines;

static void capture(const char *level, const char *msg)
{
    (void)level;
    if (strstr(msg, "http:"))
        atomic_fetch_add(&refused_lines, 1);
    if (getenv("PW_TEST_LOG"))
        fprintf(stderr, "%s: %s\n", level, msg);
}

/* A TCP connection to 127.0.0.1:port from the loopback address from (e.g. "127.0.0.2"). */
static int dial(const char *from, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&src, sizeof src), 0, "bind %s: %s", from,
                 strerror(errno));
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The status of GET path from a fresh connection from from, or 0 if none came within 3 s. */
static int probe(const char *from, int port, const char *path)
{
    int fd = dial(from, port);
    if (fd < 0)
        return 0;
    char req[256], buf[512];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       path);
    int status = 0;
    if (send(fd, req, (size_t)len, MSG_NOSIGNAL) == len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n = poll(&p, 1, 3000) == 1 ? recv(fd, buf, sizeof buf - 1, 0) : -1;
        if (n > 12) {
            buf[n] = '\0';
            sscanf(buf, "HTTP/1.1 %d", &status);
        }
    }
    close(fd);
    return status;
}

static void nap_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* Whether the server closed fd (a read sees the end, or a reset). */
static bool closed_by_server(int fd)
{
    char c;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) != 1)
        return false;
    return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

Test(http, a_flood_of_slow_clients_never_makes_the_probes_unreachable, .timeout = 60)
{
    struct pw_metrics m;
    pw_metrics_init(&m, "test", "post-commands");
    atomic_store(&m.heartbeat_ms, pw_metrics_mono_ms());
    struct pw_http *h;
    struct pw_errbuf err;
    cr_assert_eq(pw_http_start(&h, "127.0.0.1:0", &m, capture, &err), PW_OK, "%s", err.msg);
    int port = pw_http_port(h);
    cr_assert_eq(probe("127.0.0.1", port, "/healthz"), 200);

    /*
     * As many slowloris connections from one client as the listener takes
     * in all, each a started request kept alive a byte a time.
     */
    enum { SLOW = PW_HTTP_CONNECTIONS };
    int slow[SLOW];
    for (int i = 0; i < SLOW; i++) {
        slow[i] = dial("127.0.0.1", port);
        if (slow[i] >= 0)
            send(slow[i], "GET /metrics HTTP/1.1\r\nX-Slow: ", 31, MSG_NOSIGNAL);
    }
    nap_ms(300);
    cr_assert_eq(probe("127.0.0.2", port, "/healthz"), 200,
                 "another client's probe is answered while one client holds its connections");
    cr_assert_eq(probe("127.0.0.3", port, "/readyz"), 503, "and its readiness too (not joined)");

    /* A byte a second keeps no request alive past its deadline. */
    int open_left = SLOW;
    for (int t = 0; t < 24 && open_left; t++) {
        open_left = 0;
        for (int i = 0; i < SLOW; i++) {
            if (slow[i] < 0)
                continue;
            if (closed_by_server(slow[i]) || send(slow[i], "a", 1, MSG_NOSIGNAL) != 1) {
                close(slow[i]);
                slow[i] = -1;
                continue;
            }
            open_left++;
        }
        nap_ms(500);
    }
    cr_assert_eq(open_left, 0, "%d slow requests still open after 12 s", open_left);
    cr_assert_eq(probe("127.0.0.1", port, "/healthz"), 200, "the same client is answered again");
    cr_assert_gt(atomic_load(&refused_lines), 0, "turning connections away is logged");

    /* A request too large is refused, and the listener goes on. */
    int big = dial("127.0.0.4", port);
    cr_assert_geq(big, 0);
    char *huge = malloc(1 << 20);
    memset(huge, 'a', 1 << 20);
    send(big, "GET /healthz HTTP/1.1\r\nX-Big: ", 30, MSG_NOSIGNAL);
    send(big, huge, 1 << 20, MSG_NOSIGNAL | MSG_DONTWAIT);
    free(huge);
    close(big);
    cr_assert_eq(probe("127.0.0.4", port, "/healthz"), 200);
    pw_http_stop(h);
}

/* The status and body of GET path on a fresh connection, into body. */
static int get(int port, const char *path, char *body, size_t size)
{
    int fd = dial("127.0.0.1", port);
    cr_assert_geq(fd, 0);
    char req[256];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       path);
    cr_assert_eq(send(fd, req, (size_t)len, MSG_NOSIGNAL), len);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < size && (n = recv(fd, body + got, size - 1 - got, 0)) > 0)
        got += (size_t)n;
    body[got] = '\0';
    close(fd);
    int status = 0;
    sscanf(body, "HTTP/1.1 %d", &status);
    return status;
}

Test(http, readiness_says_why_and_never_calls_a_dependency_down_before_it_knows)
{
    struct pw_metrics m;
    pw_metrics_init(&m, "test", "post-commands");
    struct pw_http *h;
    struct pw_errbuf err;
    cr_assert_eq(pw_http_start(&h, "127.0.0.1:0", &m, NULL, &err), PW_OK, "%s", err.msg);
    int port = pw_http_port(h);
    static char body[65536];

    cr_assert_eq(get(port, "/readyz", body, sizeof body), 503);
    cr_assert(strstr(body, "\"kafka\":\"unknown\",\"store\":\"unknown\""), "%s", body);
    cr_assert(strstr(body, "\"reason\":\"not joined its consumer group yet\""), "%s", body);
    get(port, "/metrics", body, sizeof body);
    cr_assert(!strstr(body, "postworker_dependency_up{"), "no dependency is called down (or up) "
              "before it is known:\n%s", body);

    atomic_store(&m.joined, true);
    atomic_store(&m.dependency_up[PW_M_STORE], 0); /* a database down at start */
    cr_assert_eq(get(port, "/readyz", body, sizeof body), 503);
    cr_assert(strstr(body, "\"kafka\":\"unknown\",\"store\":\"down\""), "%s", body);
    cr_assert(strstr(body, "\"reason\":\"the store is down\""), "%s", body);
    get(port, "/metrics", body, sizeof body);
    cr_assert(strstr(body, "postworker_dependency_up{dependency=\"store\"} 0\n"), "%s", body);
    cr_assert(!strstr(body, "postworker_dependency_up{dependency=\"kafka\"}"), "%s", body);

    atomic_store(&m.dependency_up[PW_M_STORE], 1);
    atomic_store(&m.dependency_up[PW_M_KAFKA], 1);
    cr_assert_eq(get(port, "/readyz", body, sizeof body), 200, "%s", body);

    /* Partitions with lag, and no batch for 31 s: stalled, whatever the dependencies say. */
    atomic_store(&m.lag[3], 5);
    atomic_store(&m.progress_ms, pw_metrics_mono_ms() - 31000);
    cr_assert_eq(get(port, "/readyz", body, sizeof body), 503);
    cr_assert(strstr(body, "\"reason\":\"1 partitions have lag and no batch ran for 31 s\""),
              "%s", body);
    atomic_store(&m.progress_ms, pw_metrics_mono_ms());
    cr_assert_eq(get(port, "/readyz", body, sizeof body), 200, "a batch ran: %s", body);
    atomic_store(&m.lag[3], 0);
    atomic_store(&m.progress_ms, pw_metrics_mono_ms() - 3600000);
    cr_assert_eq(get(port, "/readyz", body, sizeof body), 200, "idle without lag is ready: %s",
                 body);
    pw_http_stop(h);
}

/* The read API on the in-memory store (tests/http_cases.c). */
#include "tests/helpers.h"
#include "tests/http_contract.h"
#define HTTP_SUITE_NAME http_inmem
#define HTTP_ADAPTER store_inmem_adapter
HTTP_CONTRACT_SUITE()

/* Text that is not UTF-8 (a database in another encoding) is answered scrubbed, still JSON. */
Test(http_inmem, a_post_s_text_that_is_not_utf8_is_answered_scrubbed)
{
    struct store s;
    store_inmem_adapter.open(&s);
    struct pw_post p = store_post_make("raw-1", 1);
    free(p.title);
    p.title = strdup("ok \"q\" \xff\xfe then \xc3\xa9");
    struct pw_errbuf err;
    store_begin(&s.uow);
    struct pw_repo repo = pw_uow_posts(&s.uow);
    cr_assert_eq(pw_repo_add(&repo, &p, &err), PW_OK, "%s", err.msg);
    store_commit(&s.uow);
    struct pw_metrics m;
    pw_metrics_init(&m, "test", "post-commands");
    struct pw_http *h;
    cr_assert_eq(pw_http_start(&h, "127.0.0.1:0", &m, NULL, &err), PW_OK, "%s", err.msg);
    pw_http_serve_query(h, &s.q, false);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/posts/raw-1", pw_http_port(h));
    struct pw_http_reply r;
    cr_assert_eq(pw_curl_get(url, NULL, 5000, &r, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(r.status, 200);
    json_t *v = json_loads(r.body, 0, NULL);
    cr_assert(v, "not JSON: %s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(v, "title")), "ok \"q\" ?? then é");
    cr_assert_str_eq(json_string_value(json_object_get(v, "body")), p.body);
    json_decref(v);
    pw_http_reply_release(&r);
    pw_http_stop(h);
    pw_post_release(&p);
    store_inmem_adapter.close(&s);
}

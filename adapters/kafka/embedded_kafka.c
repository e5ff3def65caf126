/*
 * The mock cluster lives inside an rd_kafka_t of its own, which owns its
 * threads; freeing that handle stops the cluster.
 */
#include "adapters/kafka/embedded_kafka.h"

#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct pw_kafka_embedded {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    bool nodelay; /* its connections answer at once (embedded_nodelay) */
};

/*
 * The mock broker (librdkafka 2.0.2, rdkafka_mock.c) accepts connections
 * without TCP_NODELAY. With three or more requests in flight on one
 * connection (the idempotent producer keeps up to five), Nagle's algorithm
 * then holds each answer until the client's delayed ACK: about 40 ms a
 * round trip instead of a fraction of one. A real broker sets TCP_NODELAY
 * on every connection. Linux gives an accepted socket its listener's
 * TCP_NODELAY, so it is set there: on the listening socket bound to the
 * cluster's port, found among this process's descriptors. The listener
 * outlives a broker taken down and brought back. false if none was found.
 */
static bool embedded_nodelay(const char *bootstraps)
{
    const char *colon = strrchr(bootstraps, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    DIR *d = opendir("/proc/self/fd");
    bool done = false;
    for (struct dirent *e; d && !done && (e = readdir(d));) {
        int fd = atoi(e->d_name), on = 0, one = 1;
        struct sockaddr_in sin;
        socklen_t len = sizeof on, slen = sizeof sin;
        if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0 || !on ||
            getsockname(fd, (struct sockaddr *)&sin, &slen) != 0 || sin.sin_family != AF_INET ||
            ntohs(sin.sin_port) != port)
            continue;
        done = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
    }
    if (d)
        closedir(d);
    return done;
}

enum pw_err pw_kafka_embedded_start(const char *const *topics, int partitions,
                                    struct pw_kafka_embedded **out, struct pw_errbuf *err)
{
    char errstr[256];
    struct pw_kafka_embedded *k = calloc(1, sizeof *k);
    if (!k)
        return pw_err_set(err, PW_E_NOMEM, "out of memory starting the embedded broker");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Silence this handle's own logs: it only hosts the cluster. */
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        free(k);
        return pw_err_set(err, PW_E_FATAL, "cannot start the embedded broker: %s", errstr);
    }
    k->mcluster = rd_kafka_mock_cluster_new(k->rk, 1);
    if (!k->mcluster) {
        pw_kafka_embedded_free(k);
        return pw_err_set(err, PW_E_FATAL, "cannot start the embedded broker's cluster");
    }
    k->nodelay = embedded_nodelay(rd_kafka_mock_cluster_bootstraps(k->mcluster));
    for (const char *const *t = topics; t && *t; t++) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(k->mcluster, *t, partitions, 1);
        if (e) {
            pw_kafka_embedded_free(k);
            return pw_err_set(err, PW_E_FATAL, "cannot create topic '%s' on the embedded broker: %s",
                              *t, rd_kafka_err2str(e));
        }
    }
    *out = k;
    return PW_OK;
}

const char *pw_kafka_embedded_brokers(const struct pw_kafka_embedded *kafka)
{
    return rd_kafka_mock_cluster_bootstraps(kafka->mcluster);
}

bool pw_kafka_embedded_nodelay(const struct pw_kafka_embedded *kafka)
{
    return kafka->nodelay;
}

void pw_kafka_embedded_set_up(struct pw_kafka_embedded *kafka, int up)
{
    if (up)
        rd_kafka_mock_broker_set_up(kafka->mcluster, 1);
    else
        rd_kafka_mock_broker_set_down(kafka->mcluster, 1);
}

void pw_kafka_embedded_fail_requests(struct pw_kafka_embedded *kafka, int api_key, int n, int err)
{
    for (int i = 0; i < n; i++)
        rd_kafka_mock_push_request_errors(kafka->mcluster, (int16_t)api_key, 1,
                                          (rd_kafka_resp_err_t)err);
}

void pw_kafka_embedded_free(struct pw_kafka_embedded *kafka)
{
    if (!kafka)
        return;
    if (kafka->mcluster)
        rd_kafka_mock_cluster_destroy(kafka->mcluster);
    if (kafka->rk)
        rd_kafka_destroy(kafka->rk);
    free(kafka);
}

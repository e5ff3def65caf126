/* The real-broker world: topics, schemas and the real binaries as processes. */
#include "tests/real/real_world.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adapters/kafka/client_kafka.h"

static rd_kafka_t *rworld_admin(const char *brokers)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cr_assert(rk, "%s", errstr);
    return rk;
}

/*
 * Creates topic with partitions, one replica on every node, and config
 * "key=value[;key=value...]" (or NULL).
 */
void rworld_topic(const char *brokers, const char *topic, int partitions, const char *config)
{
    const char *nodes = getenv("PW_KAFKA_NODES");
    rd_kafka_t *rk = rworld_admin(brokers);
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, nodes ? atoi(nodes) : 1,
                                                    errstr, sizeof errstr);
    cr_assert(nt, "%s", errstr);
    for (const char *kv = config; kv && *kv;) {
        char key[128], value[128];
        size_t len = strcspn(kv, ";"), klen = strcspn(kv, "=");
        cr_assert(klen < len, "config '%s' is not key=value", kv);
        snprintf(key, sizeof key, "%.*s", (int)klen, kv);
        snprintf(value, sizeof value, "%.*s", (int)(len - klen - 1), kv + klen + 1);
        rd_kafka_NewTopic_set_config(nt, key, value);
        kv += len + (kv[len] == ';');
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    cr_assert(ev, "no answer creating '%s'", topic);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(rd_kafka_topic_result_error(tr[0]), 0, "creating '%s': %s", topic,
                 rd_kafka_topic_result_error_string(tr[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
}

void rworld_open(struct rworld *w, int partitions, const char *dlq_config)
{
    memset(w, 0, sizeof *w);
    w->brokers = getenv("KAFKA_BROKERS");
    if (!w->brokers || !getenv("PW_KAFKA_CTL"))
        cr_assert_fail("these tests need a real Kafka cluster: run them with tools/with-kafka "
                 "(make kafka-real does), which needs Java and Maven");
    pg_schema_open(&w->pg);
    static unsigned counter;
    unsigned tag = (unsigned)getpid() * 100 + counter++;
    snprintf(w->commands, sizeof w->commands, "r%u-commands", tag);
    snprintf(w->events, sizeof w->events, "r%u-events", tag);
    snprintf(w->dlq, sizeof w->dlq, "r%u-commands.dlq", tag);
    snprintf(w->group, sizeof w->group, "r%u-group", tag);
    rworld_topic(w->brokers, w->commands, partitions, NULL);
    rworld_topic(w->brokers, w->events, partitions, NULL);
    rworld_topic(w->brokers, w->dlq, partitions, dlq_config);
    const char *url = getenv("DATABASE_URL");
    snprintf(w->dburl, sizeof w->dburl, "%s%soptions=-csearch_path%%3D%s", url,
             strchr(url, '?') ? "&" : "?", w->pg.name);
}

void rworld_close(struct rworld *w)
{
    pg_schema_close(&w->pg);
}

void rworker_start(struct rworld *w, struct rworker *p, const char *const *args)
{
    static unsigned counter;
    snprintf(p->log, sizeof p->log, "build/real-%d-%u.log", (int)getpid(), counter++);
    const char *argv[64] = {p->program ? p->program : "build/postworker"};
    int argc = 1;
    bool mode = args && args[0] && args[0][0] != '-';
    if (mode)
        argv[argc++] = *args++;
    const char *fixed[] = {"--commands-topic", w->commands, "--events-topic", w->events,
                           "--dlq-topic",      w->dlq,      "--group",        w->group,
                           "--batch-size",     "100"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[argc++] = fixed[i];
    for (; args && *args && argc < 63; args++)
        argv[argc++] = *args;
    argv[argc] = NULL;
    char brokers[512], db[1100];
    snprintf(brokers, sizeof brokers, "KAFKA_BROKERS=%s", w->brokers);
    snprintf(db, sizeof db, "DATABASE_URL=%s", w->dburl);
    char *envp[] = {brokers, db, "PATH=/usr/bin:/bin", (char *)p->env, NULL};
    p->pid = fork();
    cr_assert_geq(p->pid, 0, "fork: %s", strerror(errno));
    if (p->pid == 0) {
        /* Whatever becomes of the test, its worker dies with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int log = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644), null = open("/dev/null", O_WRONLY);
        dup2(log, 2);
        dup2(null, 1);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
}

int rworker_wait(struct rworker *p, int timeout_s)
{
    for (int i = 0; i < timeout_s * 20; i++) {
        int status;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    return -1;
}

int rworker_poll(struct rworker *p)
{
    int status;
    if (waitpid(p->pid, &status, WNOHANG) != p->pid)
        return -2;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int rworker_stop(struct rworker *p)
{
    kill(p->pid, SIGTERM);
    return rworker_wait(p, 60);
}

void rworker_kill(struct rworker *p)
{
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
}

bool rworker_logged(const struct rworker *p, const char *needle)
{
    FILE *f = fopen(p->log, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

void rworld_send(struct rworld *w, const char *topic, const char *key, const void *value,
                 size_t len, const char *const *headers)
{
    struct pw_kafka_settings ks = {.brokers = w->brokers};
    struct pw_kafka_client *c;
    struct pw_errbuf err;
    cr_assert_eq(pw_kafka_client_new(&c, &ks, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_kafka_client_produce(c, topic, key, value, len, headers, &err), PW_OK, "%s",
                 err.msg);
    cr_assert_eq(pw_kafka_client_flush(c, &err), 0, "%s", err.msg);
    pw_kafka_client_free(c);
}

void rworld_send_raw(struct rworld *w, const char *key, const void *value, size_t len,
                     const char *const *hdrs, int64_t timestamp_ms)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", w->brokers, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "message.max.bytes", "2000000", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cr_assert(rk, "%s", errstr);
    rd_kafka_headers_t *hs = rd_kafka_headers_new(8);
    for (; hdrs && hdrs[0]; hdrs += 2)
        rd_kafka_header_add(hs, hdrs[0], -1, hdrs[1], hdrs[1] ? -1 : 0);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(w->commands), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_END);
    cr_assert_eq(e, 0, "produce: %s", rd_kafka_err2str(e));
    cr_assert_eq(rd_kafka_flush(rk, 30000), 0, "the broker took it");
    rd_kafka_destroy(rk);
}

void rworld_preload(struct rworld *w, const char *prefix, int from, int n)
{
    kafka_preload(w->brokers, w->commands, "/real", prefix, from, n);
}

size_t rworld_read(struct rworld *w, const char *topic, size_t n, int timeout_ms,
                   struct kmsg **out)
{
    return kafka_read_topic(w->brokers, topic, n, timeout_ms, out);
}

/* How many messages topic holds: the sum of its partitions' watermarks. */
static size_t rworld_count(rd_kafka_t *rk, const char *topic)
{
    size_t total = 0;
    for (int32_t p = 0;; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000))
            return total;
        total += (size_t)(hi - lo);
    }
}

size_t rworld_wait_for(struct rworld *w, const char *topic, size_t n, int timeout_ms)
{
    rd_kafka_t *rk = rworld_admin(w->brokers);
    size_t have = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        if ((have = rworld_count(rk, topic)) >= n)
            break;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rd_kafka_destroy(rk);
    return have;
}

long long rworld_sql(struct rworld *w, const char *sql)
{
    return pg_schema_scalar(&w->pg, sql);
}

int rworld_leader(struct rworld *w, const char *topic, int32_t partition)
{
    rd_kafka_t *rk = rworld_admin(w->brokers);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    cr_assert_eq(rd_kafka_metadata(rk, 0, rkt, &md, 10000), 0);
    int leader = -1;
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        if (md->topics[0].partitions[i].id == partition)
            leader = md->topics[0].partitions[i].leader;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    cr_assert_gt(leader, 0, "'%s' [%d] has a leader", topic, (int)partition);
    return leader;
}

void rworld_ctl(const char *verb, int node)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s %d", getenv("PW_KAFKA_CTL"), verb, node);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

void rworld_delete_records(struct rworld *w, const char *topic, int32_t partition, int64_t before)
{
    rd_kafka_t *rk = rworld_admin(w->brokers);
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offs, topic, partition)->offset = before;
    rd_kafka_DeleteRecords_t *del = rd_kafka_DeleteRecords_new(offs);
    rd_kafka_topic_partition_list_destroy(offs);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteRecords(rk, &del, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    cr_assert(ev, "no answer deleting records of '%s'", topic);
    cr_assert_eq(rd_kafka_event_error(ev), 0, "%s", rd_kafka_event_error_string(ev));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteRecords_destroy(del);
    rd_kafka_destroy(rk);
}

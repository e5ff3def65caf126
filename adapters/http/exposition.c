/*
 * The Prometheus text exposition format (version 0.0.4) of the metrics:
 * HELP and TYPE before each family, labels quoted, histograms cumulative
 * with +Inf, _sum and _count.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "adapters/http/http.h"

static uint64_t get(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* s as a label value: backslash, quote and newline escaped, as the text format wants. */
static const char *label_value(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; *s && n + 3 < size; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            buf[n++] = '\\';
            buf[n++] = *s == '\n' ? 'n' : *s;
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = '\0';
    return buf;
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(FILE *out, const char *name, const char *help, const struct pw_histogram *h)
{
    static const double bounds[PW_HISTOGRAM_NBOUNDS] = PW_HISTOGRAM_BOUNDS;
    family(out, name, "histogram", help);
    uint64_t cum = 0;
    for (int b = 0; b < PW_HISTOGRAM_NBOUNDS; b++) {
        cum += get(&h->buckets[b]);
        fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[b], (unsigned long long)cum);
    }
    cum += get(&h->buckets[PW_HISTOGRAM_NBOUNDS]);
    /* count is read after the buckets: +Inf must equal it, so both print the same sum. */
    fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    fprintf(out, "%s_sum %.6f\n", name, (double)get(&h->sum_us) / 1e6);
    fprintf(out, "%s_count %llu\n", name, (unsigned long long)cum);
}

/* The resident set from /proc, in bytes; 0 if it cannot be read. */
static long long resident_bytes(void)
{
    long long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lld %lld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

/* The process's open descriptors (/proc/self/fd, less the one reading it), or -1. */
static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

/* librdkafka's statistics, as its last report said (absent until one came). */
static void client_metrics(FILE *out, const struct pw_metrics *m)
{
    static const char *const clients[PW_M__CLIENTS] = {"consumer", "producer"};
    struct pw_client_stats c[PW_M__CLIENTS];
    for (int i = 0; i < PW_M__CLIENTS; i++) {
        struct pw_client_stats *src = (struct pw_client_stats *)&m->clients[i];
        pw_client_stats_lock(src);
        c[i].known = src->known;
        c[i].nbrokers = src->nbrokers;
        memcpy(c[i].brokers, src->brokers, sizeof c[i].brokers);
        c[i].queue = src->queue;
        pw_client_stats_unlock(src);
    }
    family(out, "postworker_kafka_broker_rtt_seconds", "gauge",
           "Average round-trip time of requests to each broker, by client (librdkafka).");
    for (int i = 0; i < PW_M__CLIENTS; i++)
        for (int b = 0; c[i].known && b < c[i].nbrokers; b++) {
            char name[200];
            fprintf(out, "postworker_kafka_broker_rtt_seconds{client=\"%s\",broker=\"%s\"} %.6f\n",
                    clients[i], label_value(c[i].brokers[b].name, name, sizeof name),
                    c[i].brokers[b].rtt_s);
        }
    family(out, "postworker_kafka_producer_queue_messages", "gauge",
           "Messages the producer holds, not yet acknowledged by the broker (librdkafka).");
    if (c[PW_M_PRODUCER].known)
        fprintf(out, "postworker_kafka_producer_queue_messages %lld\n",
                (long long)c[PW_M_PRODUCER].queue);
    family(out, "postworker_kafka_consumer_fetch_queue_messages", "gauge",
           "Messages the consumer fetched ahead, not yet consumed (librdkafka).");
    if (c[PW_M_CONSUMER].known)
        fprintf(out, "postworker_kafka_consumer_fetch_queue_messages %lld\n",
                (long long)c[PW_M_CONSUMER].queue);
}

static void process_metrics(FILE *out, const struct pw_metrics *m)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    family(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
    fprintf(out, "process_cpu_seconds_total %.3f\n", cpu);
    family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    fprintf(out, "process_resident_memory_bytes %lld\n", resident_bytes());
    family(out, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    fprintf(out, "process_start_time_seconds %.3f\n", (double)m->start_time_ms / 1000);
    long fds = open_fds();
    family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
    if (fds >= 0)
        fprintf(out, "process_open_fds %ld\n", fds);
    struct rlimit rl;
    family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fprintf(out, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
}

void pw_metrics_write(const struct pw_metrics *m, FILE *out)
{
    static const char *const outcomes[PW_M__OUTCOMES] = {
#define PW_M_OUTCOME_LABEL(suffix, label) label,
        PW_METRIC_OUTCOMES(PW_M_OUTCOME_LABEL)
#undef PW_M_OUTCOME_LABEL
    };
    static const char *const retries[PW_M__RETRIES] = {"batch", "publish", "dead_letter"};
    static const char *const deps[PW_M__DEPENDENCIES] = {"kafka", "store"};

    family(out, "postworker_commands_total", "counter",
           "Messages consumed from the commands topic, by what became of them.");
    for (int i = 0; i < PW_M__OUTCOMES; i++)
        fprintf(out, "postworker_commands_total{outcome=\"%s\"} %llu\n", outcomes[i],
                (unsigned long long)get(&m->commands[i]));

    family(out, "postworker_dead_letters_total", "counter",
           "Dead letters recorded, by dlq.error.kind and dlq.error.code.");
    for (int c = 0; c < PW_E__COUNT; c++)
        if (pw_err_is_dead_letter((enum pw_err)c))
            fprintf(out, "postworker_dead_letters_total{kind=\"%s\",code=\"%s\"} %llu\n",
                    pw_err_kind_name(pw_err_kind((enum pw_err)c)), pw_err_name((enum pw_err)c),
                    (unsigned long long)get(&m->dead_letters[c]));

    family(out, "postworker_events_published_total", "counter",
           "Events acknowledged by the broker.");
    fprintf(out, "postworker_events_published_total %llu\n",
            (unsigned long long)get(&m->events_published));

    family(out, "postworker_inbox_pruned_total", "counter",
           "Processed commands forgotten by the inbox's retention (POSTWORKER_INBOX_RETENTION).");
    fprintf(out, "postworker_inbox_pruned_total %llu\n",
            (unsigned long long)get(&m->inbox_pruned));

    histogram(out, "postworker_batch_duration_seconds",
              "Time to run a batch in its unit of work, retries included.", &m->batch_duration);
    histogram(out, "postworker_command_latency_seconds",
              "From a command's Kafka timestamp to its event's acknowledgement by the broker.",
              &m->command_latency);

    family(out, "postworker_consumer_lag_messages", "gauge",
           "Messages in each assigned partition not yet consumed.");
    for (int p = 0; p < PW_METRICS_MAX_PARTITIONS; p++) {
        int64_t lag = atomic_load_explicit(&m->lag[p], memory_order_relaxed);
        if (lag >= 0)
            fprintf(out, "postworker_consumer_lag_messages{group=\"%s\",topic=\"%s\","
                    "partition=\"%d\"} %lld\n", m->group ? m->group : "", m->lag_topic, p,
                    (long long)lag);
    }
    int64_t assigned = atomic_load(&m->assigned);
    family(out, "postworker_assigned_partitions", "gauge",
           "Partitions of the commands topic this worker owns.");
    if (assigned >= 0)
        fprintf(out, "postworker_assigned_partitions{topic=\"%s\"} %lld\n", m->lag_topic,
                (long long)assigned);

    int64_t pending = atomic_load(&m->outbox_pending);
    int64_t dead = atomic_load(&m->outbox_dead_letters);
    family(out, "postworker_outbox_pending_events", "gauge",
           "Events in the outbox waiting to be published.");
    if (pending >= 0)
        fprintf(out, "postworker_outbox_pending_events %lld\n", (long long)(pending - dead));
    family(out, "postworker_outbox_pending_dead_letters", "gauge",
           "Dead letters in the outbox waiting to be published.");
    if (pending >= 0)
        fprintf(out, "postworker_outbox_pending_dead_letters %lld\n", (long long)dead);
    family(out, "postworker_outbox_oldest_age_seconds", "gauge",
           "Age of the oldest row in the outbox; 0 when it is empty.");
    if (pending >= 0)
        fprintf(out, "postworker_outbox_oldest_age_seconds %.3f\n",
                (double)atomic_load(&m->outbox_oldest_ms) / 1000);

    int64_t parked = atomic_load(&m->parked_posts);
    family(out, "postworker_parked_posts", "gauge",
           "Posts parked behind a command that failed (postworker parked lists them).");
    if (parked >= 0)
        fprintf(out, "postworker_parked_posts %lld\n", (long long)parked);
    family(out, "postworker_held_commands", "gauge", "Commands held behind a parked post's failed one.");
    if (parked >= 0)
        fprintf(out, "postworker_held_commands %lld\n", (long long)atomic_load(&m->held_commands));
    family(out, "postworker_parked_oldest_age_seconds", "gauge",
           "How long the longest-parked post has been parked; 0 when none is.");
    if (parked >= 0)
        fprintf(out, "postworker_parked_oldest_age_seconds %.3f\n",
                (double)atomic_load(&m->parked_oldest_ms) / 1000);

    family(out, "postworker_dependency_up", "gauge",
           "1 when the dependency answers, 0 when it does not; absent until known.");
    for (int d = 0; d < PW_M__DEPENDENCIES; d++)
        if (atomic_load(&m->dependency_up[d]) >= 0)
            fprintf(out, "postworker_dependency_up{dependency=\"%s\"} %d\n", deps[d],
                    atomic_load(&m->dependency_up[d]));

    family(out, "postworker_retries_total", "counter",
           "Retries with backoff after a transient failure, by what was retried.");
    for (int r = 0; r < PW_M__RETRIES; r++)
        fprintf(out, "postworker_retries_total{what=\"%s\"} %llu\n", retries[r],
                (unsigned long long)get(&m->retries[r]));

    family(out, "postworker_rebalances_total", "counter", "Partition assignments and revocations.");
    fprintf(out, "postworker_rebalances_total{kind=\"assign\"} %llu\n",
            (unsigned long long)get(&m->assigns));
    fprintf(out, "postworker_rebalances_total{kind=\"revoke\"} %llu\n",
            (unsigned long long)get(&m->revokes));

    client_metrics(out, m);

    family(out, "postworker_build_info", "gauge", "The running version, as a label.");
    fprintf(out, "postworker_build_info{version=\"%s\"} 1\n", m->version);

    process_metrics(out, m);
}

/*
 * make bench: how fast the real worker drains a backlog.
 *
 * It preloads N CreatePost commands (distinct posts, bodies of about 300
 * bytes, keyed by post id) into a broker (its own embedded one, or
 * KAFKA_BROKERS), starts build/postworker as a child process on it, and
 * reads the events topic as a downstream consumer would. A consumer sees an
 * event only once the broker has acknowledged it (acks=all), so "seen" is
 * the acknowledgement, as a consumer can observe it.
 *
 * Reported: commands; seconds and commands per second from the first event
 * to the last (the first command consumed is one batch before the first
 * event); p50 and p99 latency from each command's timestamp to its event
 * being seen; the worker's peak RSS: its own VmHWM, read from /proc while it
 * runs (not ru_maxrss, which counts the pages the child shared with this
 * process, broker and backlog included, before it ran the worker).
 */
/* wait4() for the child's own resource usage is a BSD call, not POSIX. */
#define _DEFAULT_SOURCE
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adapters/kafka/client_kafka.h"
#include "adapters/kafka/cloudevents.h"
#include "adapters/kafka/embedded_kafka.h"
#include "adapters/kafka/noop_kafka.h"

static const char usage[] =
    "usage: bench [-n COMMANDS] [--batch-size N] [--store inmem|pg|pg-relaxed|noop]\n"
    "  -n COMMANDS       how many CreatePost commands to preload (100000)\n"
    "  --batch-size N    the worker's POSTWORKER_BATCH_SIZE (its default)\n"
    "  --store KIND      inmem (default), or pg: the worker uses DATABASE_URL;\n"
    "                    pg-relaxed: the same with --durability relaxed;\n"
    "                    noop: the broker's ceiling, a worker that does nothing but\n"
    "                    consume, produce a same-sized event and commit offsets\n"
    "  --paced RATE      send RATE commands a second while the worker runs, instead\n"
    "                    of a preloaded backlog, for --seconds S (30)\n"
    "  --partitions P    the embedded broker's partitions per topic (32, as make run)\n"
    "  --linger MS       --paced: the sender's linger.ms (2, as the worker's producers)\n"
    "  --posts K         send to K posts only: a CreatePost each, then UpdatePosts\n"
    "  --workers K       K worker processes in one group (1 to 8; the CPU is theirs\n"
    "                    together, the RSS the first one's)\n"
    "  --every S         print a line every S seconds: rate, p50/p99, the worker's\n"
    "                    RSS and the database's size (make soak)\n"
    "  KAFKA_BROKERS     use this broker instead of an embedded one\n"
    "  BENCH_TAG         name the posts bench-TAG-I (default: the time)\n";

#define BENCH_MAX_WORKERS 8

struct run {
    const char *prefix; /* the post ids of this run's commands */
    size_t n;
    size_t seen;
    atomic_size_t progress; /* seen, for the watcher thread */
    int64_t *latency_us;
    int64_t first_us, last_us;
    volatile sig_atomic_t stop;
    pid_t child;
    int child_status;
    struct rusage child_usage;
    bool child_done;
    pid_t others[BENCH_MAX_WORKERS - 1]; /* --workers: the rest of the group */
    int nothers;
    long hwm_kb; /* the worker's peak RSS so far */
    int64_t every_us; /* --every: a line of figures this often (0: none) */
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * The event's time attribute (its command's Kafka timestamp), found in the
 * JSON without parsing it: the bench shares the machine's two cores with
 * the broker and the worker, and a full decode of every event took a fifth
 * of them (perf). The worker writes the attribute as "time":"RFC 3339".
 */
static bool event_time(const char *v, size_t len, pw_time *t)
{
    static const char key[] = "\"time\":\"";
    const char *p = memmem(v, len, key, sizeof key - 1);
    if (!p)
        return false;
    p += sizeof key - 1;
    const char *end = memchr(p, '"', len - (size_t)(p - v));
    return end && pw_time_parse(p, (size_t)(end - p), t);
}

static void on_event(const struct pw_kafka_record *rec, void *arg)
{
    struct run *r = arg;
    int64_t t = now_us();
    size_t plen = strlen(r->prefix);
    pw_time at;
    /* The key is the post id: another run's posts, or the warm-up's, are not counted. */
    if (r->seen >= r->n || !rec->key || rec->key_len < plen ||
        memcmp(rec->key, r->prefix, plen) != 0 || !event_time(rec->value, rec->len, &at))
        return;
    if (r->seen == 0)
        r->first_us = t;
    r->last_us = t;
    r->latency_us[r->seen++] = t - at;
    atomic_store(&r->progress, r->seen);
    if (r->seen % (r->n / 10 ? r->n / 10 : 1) == 0)
        fprintf(stderr, "bench: %zu of %zu events seen\n", r->seen, r->n);
    if (r->seen == r->n)
        r->stop = 1;
}

/* The worker's resident set now (VmRSS), in KiB. */
static long read_rss(pid_t pid)
{
    char path[64], line[256];
    long kb = 0;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* The database's size in MiB (psql on DATABASE_URL), or -1. */
static double db_mib(void)
{
    if (!getenv("DATABASE_URL"))
        return -1;
    FILE *p = popen("psql -qtAX -c 'SELECT pg_database_size(current_database())' "
                    "\"$DATABASE_URL\" 2>/dev/null", "r");
    double bytes = -1;
    if (p && fscanf(p, "%lf", &bytes) != 1)
        bytes = -1;
    if (p)
        pclose(p);
    return bytes < 0 ? -1 : bytes / (1024.0 * 1024.0);
}

static int cmp_i64(const void *a, const void *b);

/* One line for the interval: events seen in it, a second; their p50 and p99; RSS; database. */
static void report_interval(struct run *r, size_t from, size_t to, int64_t us, int k)
{
    size_t n = to - from;
    int64_t *v = n ? malloc(n * sizeof *v) : NULL;
    double p50 = 0, p99 = 0;
    if (v) {
        memcpy(v, r->latency_us + from, n * sizeof *v);
        qsort(v, n, sizeof *v, cmp_i64);
        p50 = v[n / 2] / 1000.0;
        p99 = v[n * 99 / 100] / 1000.0;
        free(v);
    }
    printf("| %d | %.0f | %.1f ms | %.1f ms | %.1f MiB | %.1f MiB |\n", k, n * 1e6 / (double)us,
           p50, p99, read_rss(r->child) / 1024.0, db_mib());
    fflush(stdout);
}

/* The child's peak resident set so far (VmHWM), into r->hwm_kb. */
static void read_hwm(struct run *r)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)r->child);
    FILE *f = fopen(path, "r");
    long kb;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1 && kb > r->hwm_kb)
            r->hwm_kb = kb;
    if (f)
        fclose(f);
}

/*
 * Stops the reader if the worker dies, or if no event arrives for a minute
 * (a worker that skipped the commands, say), so the bench never hangs.
 */
#define BENCH_STALL_US (60 * 1000000LL)

static void *watch_child(void *arg)
{
    struct run *r = arg;
    size_t seen = 0, mark = 0;
    int64_t moved = now_us(), mark_us = moved;
    int interval = 0;
    if (r->every_us)
        printf("| interval | commands/s | p50 latency | p99 latency | worker RSS | database |\n"
               "|---|---|---|---|---|---|\n");
    while (!r->stop) {
        read_hwm(r);
        if (r->every_us && now_us() - mark_us >= r->every_us) {
            size_t now_seen = atomic_load(&r->progress);
            report_interval(r, mark, now_seen, now_us() - mark_us, ++interval);
            mark = now_seen;
            mark_us = now_us();
        }
        if (atomic_load(&r->progress) != seen) {
            seen = atomic_load(&r->progress);
            moved = now_us();
        } else if (now_us() - moved > BENCH_STALL_US) {
            fprintf(stderr, "bench: no event for 60 s after %zu of %zu; giving up (see "
                            "build/bench-worker.log)\n", seen, r->n);
            r->stop = 1;
            break;
        }
        pid_t p = wait4(r->child, &r->child_status, WNOHANG, &r->child_usage);
        if (p == r->child) {
            r->child_done = true;
            r->stop = 1;
            break;
        }
        usleep(200000);
    }
    return NULL;
}

/* --posts: how many posts the run's commands go to (0: a new post each). */
static size_t bench_posts;

/*
 * Sends command i of the run tagged tag: a CreatePost with a 300-byte body,
 * or with --posts K, after the first K, an UpdatePost of post i % K.
 */
static enum pw_err send_command(struct pw_kafka_client *c, const struct pw_kafka_settings *ks,
                                const char *tag, size_t i, struct pw_errbuf *err)
{
    static char body[301];
    if (!body[0]) {
        for (size_t k = 0; k < 300; k++)
            body[k] = "abcdefghijklmnopqrstuvwxyz      "[k % 32];
    }
    char post_id[64], json[1024];
    snprintf(post_id, sizeof post_id, "bench-%s-%zu", tag, bench_posts ? i % bench_posts : i);
    if (bench_posts && i >= bench_posts) { /* --posts: the same posts, updated over and over */
        int len = snprintf(json, sizeof json,
                           "{\"specversion\":\"1.0\",\"id\":\"u-%s-%zu\",\"source\":\"/bench\","
                           "\"type\":\"UpdatePost\",\"data\":{\"post_id\":\"%s\","
                           "\"title\":\"Post %zu\",\"body\":\"%s\"}}",
                           tag, i, post_id, i, body);
        return pw_kafka_client_produce(c, ks->commands_topic, post_id, json, (size_t)len, NULL,
                                       err);
    }
    int len = snprintf(json, sizeof json,
                       "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/bench\","
                       "\"type\":\"CreatePost\",\"data\":{\"post_id\":\"%s\","
                       "\"author_name\":\"Bench\",\"title\":\"Post %zu\",\"body\":\"%s\"}}",
                       post_id, post_id, i, body);
    return pw_kafka_client_produce(c, ks->commands_topic, post_id, json, (size_t)len, NULL, err);
}

static int preload(const struct pw_kafka_settings *ks, size_t n, const char *tag)
{
    struct pw_kafka_client *c;
    struct pw_errbuf err;
    if (pw_kafka_client_new(&c, ks, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (send_command(c, ks, tag, i, &err))
            rc = -1;
        if ((i + 1) % (n / 10 ? n / 10 : 1) == 0)
            fprintf(stderr, "bench: %zu of %zu commands preloaded\n", i + 1, n);
    }
    if (!rc && pw_kafka_client_flush(c, &err) > 0)
        rc = -1;
    if (rc)
        fprintf(stderr, "bench: preload failed: %s\n", err.msg);
    pw_kafka_client_free(c);
    return rc;
}

/* A paced run: rate commands a second for n commands, from a thread, while the worker runs. */
struct pace {
    const struct pw_kafka_settings *ks;
    const char *tag;
    size_t n;
    long rate;
    volatile sig_atomic_t *stop;
};

static void *pace_commands(void *arg)
{
    struct pace *p = arg;
    struct pw_kafka_client *c;
    struct pw_errbuf err;
    if (pw_kafka_client_new(&c, p->ks, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return NULL;
    }
    int64_t start = now_us();
    for (size_t i = 0; i < p->n && !*p->stop; i++) {
        int64_t wait = start + (int64_t)((double)i * 1e6 / (double)p->rate) - now_us();
        if (wait > 1000)
            usleep((useconds_t)wait);
        if (send_command(c, p->ks, p->tag, i, &err)) {
            fprintf(stderr, "bench: %s\n", err.msg);
            break;
        }
        if ((i + 1) % (size_t)(p->rate * 5) == 0)
            fprintf(stderr, "bench: %zu of %zu paced commands sent\n", i + 1, p->n);
    }
    pw_kafka_client_flush(c, &err);
    pw_kafka_client_free(c);
    return NULL;
}

/* Waits (at most 60 s) until the worker has its partitions, as its log says. */
static void wait_assigned(void)
{
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen("build/bench-worker.log", "r");
        char line[1024];
        bool yes = false;
        while (f && !yes && fgets(line, sizeof line, f))
            yes = strstr(line, "assigned") != NULL;
        if (f)
            fclose(f);
        if (yes)
            return;
        usleep(100000);
    }
}

static volatile sig_atomic_t noop_stop;

static void noop_on_term(int sig)
{
    (void)sig;
    noop_stop = 1;
}

/* The broker's ceiling (adapters/kafka/noop_kafka.h), as the child process a worker would be. */
static void noop_worker(const char *brokers)
{
    signal(SIGTERM, noop_on_term);
    struct pw_kafka_settings s = {.brokers = brokers, .group = "bench-noop",
                                  .commands_topic = "post-commands", .events_topic = "post-events",
                                  .dlq_topic = "post-commands.dlq", .stop = &noop_stop};
    struct pw_errbuf err;
    if (pw_kafka_noop_worker(&s, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        _exit(1);
    }
    _exit(0);
}

/*
 * The embedded broker (librdkafka's mock cluster) answers a fetch that
 * finds no data only after the client's fetch.wait.max.ms, even if data
 * arrives meanwhile ("we should cut the wait short ... but that is too much
 * of a hassle", rdkafka_mock_handlers.c); a real broker answers as soon as
 * there is data. On it, the worker and this reader both fetch with a 5 ms
 * wait, or a paced run would measure librdkafka's 500 ms default instead
 * of the worker.
 */
#define BENCH_MOCK_FETCH_WAIT "fetch.wait.max.ms=5"

/*
 * Starts the worker, and returns once it runs its own program: until the
 * exec, the child is a copy of this process, broker and backlog included,
 * and its peak RSS would be ours. The exec closes the pipe. On its own
 * embedded broker (tag: the run's) the worker gets a group of its own: on a
 * database an earlier run used, the offsets stored with the data are that
 * run's broker's, and in the same group it would start this run's
 * partitions there (or reset them). On a real broker the topics outlive the
 * run, and the one group resumes after the runs before it, where a new group
 * would read them all again.
 */
static pid_t start_worker(const char *brokers, bool embedded, const char *tag,
                          const char *batch, const char *store)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid != 0) {
        close(fds[1]);
        char c;
        while (pid > 0 && read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        close(fds[0]);
        return pid;
    }
    close(fds[0]);
    if (strcmp(store, "noop") == 0) { /* run afresh, so that its memory is its own */
        execl("/proc/self/exe", "bench", "--noop-worker", brokers, (char *)NULL);
        _exit(127);
    }
    setenv("KAFKA_BROKERS", brokers, 1);
    if (embedded) {
        char group[64];
        snprintf(group, sizeof group, "postworker-bench-%s-%ld", tag, (long)getppid());
        setenv("POSTWORKER_GROUP", group, 1);
    }
    if (batch)
        setenv("POSTWORKER_BATCH_SIZE", batch, 1);
    if (strncmp(store, "pg", 2) != 0)
        unsetenv("DATABASE_URL");
    if (strcmp(store, "pg-relaxed") == 0)
        setenv("POSTWORKER_DURABILITY", "relaxed", 1);
    FILE *log = freopen("build/bench-worker.log", "w", stderr);
    (void)log;
    /*
     * The embedded broker holds a join to a running group for the session
     * timeout less a second (adapters/kafka/conf.c): at librdkafka's 45 s,
     * a worker of a group that joined after the first had its partitions
     * held 44 s (make bench's four workers, 2,034-2,179/s in one run of two).
     * The worker sets 3 s for its own embedded broker; this one is the bench's.
     */
    char *args[] = {"postworker", "run", "-X", BENCH_MOCK_FETCH_WAIT,
                    "-X", "session.timeout.ms=3000", "-X", "heartbeat.interval.ms=500", NULL};
    if (!embedded)
        args[2] = NULL;
    execv("build/postworker", args);
    perror("bench: cannot run build/postworker");
    _exit(127);
}

int main(int argc, char **argv)
{
    size_t n = 100000;
    long rate = 0, seconds = 30, partitions = PW_EMBEDDED_PARTITIONS, every_s = 0, workers = 1;
    const char *batch = NULL, *store = "inmem", *linger = "2";
    if (argc == 3 && strcmp(argv[1], "--noop-worker") == 0)
        noop_worker(argv[2]);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--batch-size") == 0 && i + 1 < argc) {
            batch = argv[++i];
        } else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            store = argv[++i];
        } else if (strcmp(argv[i], "--paced") == 0 && i + 1 < argc) {
            rate = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--posts") == 0 && i + 1 < argc) {
            bench_posts = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            workers = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--every") == 0 && i + 1 < argc) {
            every_s = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--linger") == 0 && i + 1 < argc) {
            linger = argv[++i];
        } else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            partitions = strtol(argv[++i], NULL, 10);
        } else {
            fputs(usage, strcmp(argv[i], "--help") == 0 ? stdout : stderr);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (rate > 0)
        n = (size_t)(rate * (seconds > 0 ? seconds : 30));
    bool known = strcmp(store, "inmem") == 0 || strcmp(store, "pg") == 0 ||
                 strcmp(store, "pg-relaxed") == 0 || strcmp(store, "noop") == 0;
    bool alone = workers == 1 || strcmp(store, "noop") != 0;
    if (n == 0 || partitions < 1 || partitions > 1000 || !known || workers < 1 ||
        workers > BENCH_MAX_WORKERS || !alone) {
        fputs(usage, stderr);
        return 2;
    }
    if (strncmp(store, "pg", 2) == 0 && !getenv("DATABASE_URL")) {
        fprintf(stderr, "bench: --store pg needs DATABASE_URL (make bench starts a server)\n");
        return 2;
    }
    struct pw_kafka_embedded *embedded = NULL;
    struct pw_errbuf err;
    const char *brokers = getenv("KAFKA_BROKERS");
    if (!brokers || !*brokers) {
        static const char *const topics[] = {"post-commands", "post-events", "post-commands.dlq",
                                             NULL};
        if (pw_kafka_embedded_start(topics, (int)partitions, &embedded, &err)) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
        brokers = pw_kafka_embedded_brokers(embedded);
    }
    static const char *const reader_props[] = {BENCH_MOCK_FETCH_WAIT};
    struct pw_kafka_settings ks = {
        .brokers = brokers, .props = reader_props, .nprops = 1, .group = "bench",
        .commands_topic = "post-commands", .events_topic = "post-events",
        .dlq_topic = "post-commands.dlq",
    };
    char tag[32], prefix[48];
    /* BENCH_TAG names the run's posts (bench-TAG-I), for make bench-http's readers. */
    if (getenv("BENCH_TAG"))
        snprintf(tag, sizeof tag, "%.31s", getenv("BENCH_TAG"));
    else
        snprintf(tag, sizeof tag, "%ld", (long)time(NULL));
    snprintf(prefix, sizeof prefix, "bench-%s-", tag);
    struct run r = {.prefix = prefix, .n = n, .latency_us = calloc(n, sizeof(int64_t)),
                    .every_us = every_s * 1000000};
    int status = 1;
    if (!r.latency_us || (!rate && preload(&ks, n, tag)))
        goto out;
    fprintf(stderr, "bench: starting the worker (store %s, log in build/bench-worker.log)\n", store);
    if ((r.child = start_worker(brokers, embedded != NULL, tag, batch, store)) < 0) {
        perror("bench: cannot start the worker");
        goto out;
    }
    for (; r.nothers < workers - 1; r.nothers++) /* the same group: they share the partitions */
        if ((r.others[r.nothers] = start_worker(brokers, embedded != NULL, tag, batch, store)) < 0) {
            perror("bench: cannot start a worker");
            kill(r.child, SIGKILL);
            for (int i = 0; i < r.nothers; i++)
                kill(r.others[i], SIGKILL);
            goto out;
        }
    pthread_t watcher, pacer;
    pthread_create(&watcher, NULL, watch_child, &r);
    /*
     * The embedded broker finds a fetch's offset by walking every message
     * set its partition holds ("FIXME: Maintain an index",
     * rdkafka_mock.c), each fetch: a sender that puts one command in each
     * set makes that walk the machine's busiest code (make bench-http at
     * 2,000/s: 12 % of both cores, at one instruction). A real broker has
     * an offset index; --linger lets the sender batch as a producer at that
     * rate would, so that the figures are the worker's.
     */
    char linger_prop[48];
    snprintf(linger_prop, sizeof linger_prop, "linger.ms=%s", linger);
    const char *pacer_props[] = {linger_prop};
    struct pw_kafka_settings pacer_ks = ks;
    pacer_ks.props = pacer_props;
    struct pace pace = {.ks = &pacer_ks, .tag = tag, .n = n, .rate = rate, .stop = &r.stop};
    if (rate) {
        wait_assigned();
        fprintf(stderr, "bench: sending %zu commands at %ld a second\n", n, rate);
        pthread_create(&pacer, NULL, pace_commands, &pace);
    }
    /*
     * On a real broker the events topic exists only once the worker has
     * looked it up (auto-creation): until then, ask again.
     */
    for (int tries = 0;; tries++) {
        if (!pw_kafka_read(&ks, ks.events_topic, true, false, &r.stop, on_event, &r, &err))
            break;
        if (r.stop || r.seen || tries == 120) {
            fprintf(stderr, "bench: reading events: %s\n", err.msg);
            break;
        }
        nanosleep(&(struct timespec){0, 500 * 1000000L}, NULL);
    }
    r.stop = 1;
    pthread_join(watcher, NULL);
    if (rate)
        pthread_join(pacer, NULL);
    if (!r.child_done) {
        read_hwm(&r);
        kill(r.child, SIGTERM);
        wait4(r.child, &r.child_status, 0, &r.child_usage);
    }
    double cpu = 0; /* seconds, every worker's */
    for (int i = 0; i < r.nothers; i++) {
        struct rusage u;
        int st;
        kill(r.others[i], SIGTERM);
        if (wait4(r.others[i], &st, 0, &u) == r.others[i])
            cpu += (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 +
                   (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
    }
    if (r.seen < n) {
        fprintf(stderr, "bench: only %zu of %zu events arrived; see build/bench-worker.log\n", r.seen, n);
        goto out;
    }
    qsort(r.latency_us, n, sizeof *r.latency_us, cmp_i64);
    double secs = (double)(r.last_us - r.first_us) / 1e6;
    cpu += (double)r.child_usage.ru_utime.tv_sec + r.child_usage.ru_utime.tv_usec / 1e6 +
                 (double)r.child_usage.ru_stime.tv_sec + r.child_usage.ru_stime.tv_usec / 1e6;
    printf("| store | batch | commands | seconds | commands/s | p50 latency | p99 latency | "
           "worker peak RSS | p999 latency | worker CPU per command |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    char name[32];
    snprintf(name, sizeof name, workers > 1 ? "%s x%ld" : "%s", store, workers);
    printf("| %s | %s | %zu | %.2f | %.0f | %.1f ms | %.1f ms | %.1f MiB | %.1f ms | %.1f us |\n",
           name, batch ? batch : "default", n, secs, secs > 0 ? (double)n / secs : 0.0,
           (double)r.latency_us[n / 2] / 1000, (double)r.latency_us[(n * 99) / 100] / 1000,
           (double)r.hwm_kb / 1024, (double)r.latency_us[(n * 999) / 1000] / 1000,
           cpu * 1e6 / (double)n);
    status = 0;
out:
    free(r.latency_us);
    pw_kafka_embedded_free(embedded);
    return status;
}

/*
 * postworker: the worker. main() chooses the adapters from the
 * configuration and wires them behind the ports; nothing else here decides
 * anything. Exit status: 0 clean stop, 1 fatal runtime error, 2 bad usage.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapters/http/http.h"
#include "adapters/inmem/inmem.h"
#include "adapters/pg/pg.h"
#include "adapters/kafka/bus_kafka.h"
#include "adapters/kafka/client_kafka.h"
#include "adapters/kafka/embedded_kafka.h"
#include "adapters/kafka/redrive_kafka.h"
#include "bootstrap/worker.h"
#include "adapters/systemd/notify_systemd.h"
#include "adapters/uuid/ids_uuid.h"
#include "bootstrap/brokers.h"
#include "bootstrap/config.h"
#include "bootstrap/log.h"
#include "bootstrap/parking.h"
#include "bootstrap/prune.h"
#include "bootstrap/serve.h"
#include "bootstrap/stores.h"
#include "bootstrap/version.h"
#include "handlers/app.h"
#include "ports/backoff.h"

#ifdef PW_TEST_FAULTS
/*
 * The test build only (build/postworker-faults): PW_TEST_KILL_ID names a
 * command whose run kills the process, as a crash in a library or the OOM
 * killer would, for the tests of POSTWORKER_MAX_ATTEMPTS; PW_TEST_HANG_ID
 * one whose run never ends, for the liveness probe's.
 */
#include "adapters/fault/fault.h"

static struct pw_fault test_plan;
static struct pw_uow test_uow;

static struct pw_uow *test_faults(struct pw_uow *uow)
{
    test_plan.kill_id = getenv("PW_TEST_KILL_ID");
    test_plan.hang_id = getenv("PW_TEST_HANG_ID");
    if ((!test_plan.kill_id && !test_plan.hang_id) ||
        pw_fault_uow_open(&test_uow, uow, &test_plan))
        return uow;
    pw_log("warn", "test build: the command '%s' %s the process",
           test_plan.kill_id ? test_plan.kill_id : test_plan.hang_id,
           test_plan.kill_id ? "kills" : "hangs");
    return &test_uow;
}

static void test_faults_close(void)
{
    pw_uow_close(&test_uow);
}
#else
static struct pw_uow *test_faults(struct pw_uow *uow)
{
    return uow;
}

static void test_faults_close(void)
{
}
#endif

static volatile sig_atomic_t stop_requested, stop_signal;

static const char *signal_name(int sig)
{
    return sig == SIGHUP ? "SIGHUP" : sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

/* What the worker counts; the HTTP thread reads it until it stops. */
static struct pw_metrics metrics;

/*
 * SIGINT, SIGTERM and SIGHUP (a closed terminal, a supervisor's reload) ask
 * for a clean stop. A second one during it ends the process at once, and
 * says why (write(2) is safe in a handler; the log is not).
 */
static void on_signal(int sig)
{
    if (stop_requested) { /* the operator means it */
        static const char head[] = "postworker: a second signal (";
        static const char tail[] = ") during the stop: exiting now, without finishing it (status 1)\n";
        const char *name = signal_name(sig);
        size_t n = 0;
        while (name[n])
            n++;
        (void)!write(STDERR_FILENO, head, sizeof head - 1);
        (void)!write(STDERR_FILENO, name, n);
        (void)!write(STDERR_FILENO, tail, sizeof tail - 1);
        _exit(1);
    }
    stop_signal = sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* This process's own number, at random, for the tokens of its runs (handlers/runs.h). */
static uint64_t random_instance(void)
{
    uint64_t x = 0;
    if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x || !x)
        x = ((uint64_t)time(NULL) << 32) ^ (uint64_t)getpid();
    return x;
}

/* 0 clean stop (a stop while waiting for a dependency is one too), 2 usage, 1 the rest. */
static int exit_status(enum pw_err rc, const struct pw_errbuf *err)
{
    if (!rc)
        return 0;
    if (stop_requested && pw_err_is_transient(rc)) {
        pw_log("info", "stopped while waiting: %s", err->msg);
        return 0;
    }
    pw_log("error", "%s", err->msg);
    return rc == PW_E_USAGE ? 2 : 1;
}

/*
 * A replay into a store that holds nothing (a rebuild; the in-memory store
 * beside a running worker) would publish every event and dead letter again
 * to the live topics: it must name its own, or publish nothing.
 */
static enum pw_err replay_may_publish(const struct pw_config *cfg, struct pw_store *store,
                                      struct pw_errbuf *err)
{
    bool empty = false;
    if (cfg->replay_from == PW_START_GROUP || cfg->no_publish ||
        (cfg->events_named && cfg->dlq_named))
        return PW_OK;
    enum pw_err rc = pw_store_holds_nothing(store, &empty, err);
    if (rc || !empty)
        return rc;
    return pw_err_set(err, PW_E_USAGE,
                      "the store holds nothing: this replay would publish every event and dead "
                      "letter again to '%s' and '%s'; name others with --events-topic and "
                      "--dlq-topic, or rebuild without publishing with --no-publish",
                      cfg->events_topic, cfg->dlq_topic);
}

static int run(const struct pw_config *cfg)
{
    struct pw_errbuf err;
    struct pw_stores st = {0};
    struct pw_kafka_embedded *embedded = NULL;
    char found[1024];
    struct pw_bus bus = {0};
    struct pw_ids ids;
    struct pw_app app = {0};
    struct pw_loop_stats stats = {0};
    struct pw_http *http = NULL;
    struct pw_query query = {0}; /* the read API's */
    struct pw_pruner *pruner = NULL;
    pw_metrics_init(&metrics, PW_VERSION, cfg->commands_topic);
    metrics.group = cfg->group;
    struct pw_notify *notify = NULL; /* systemd's READY=1, WATCHDOG=1, STOPPING=1 */
    enum pw_err rc = pw_systemd_notify_start(&notify, &metrics, &stop_requested, &err);
    if (rc)
        goto out;
    if (cfg->http) {
        if ((rc = pw_http_start(&http, cfg->http, &metrics, pw_log_line, &err)))
            goto out;
        pw_log("info", "http: /posts, /commands, /parked, /healthz, /readyz and /metrics at "
               "http://%s/ (port %d)", cfg->http, pw_http_port(http));
    }
    struct pw_kafka_settings ks = pw_config_kafka(cfg, pw_log_line);
    ks.stop = &stop_requested;
    ks.metrics = &metrics; /* librdkafka's statistics: the client metrics */
    rc = pw_stores_open(&st, cfg, &metrics, &stop_requested, &err);
    if (rc)
        goto out;
    if (http && ((st.pg && pw_pg_query_open(&query, st.pg)) ||
                 (st.mem && pw_inmem_query_open(&query, st.mem)))) {
        rc = pw_err_set(&err, PW_E_NOMEM, "out of memory opening the store for --http");
        goto out;
    }
    pw_http_serve_query(http, &query, false);
    if (!ks.brokers && (rc = pw_embedded_elsewhere(cfg, found, sizeof found, &ks.brokers, &err)))
        goto out;
    if (!cfg->brokers && ks.brokers)
        pw_log("info", "using the running worker's embedded broker at %s", ks.brokers);
    if (!ks.brokers) {
        const char *topics[] = {cfg->commands_topic, cfg->events_topic, cfg->dlq_topic, NULL};
        if ((rc = pw_kafka_embedded_start(topics, PW_EMBEDDED_PARTITIONS, &embedded, &err)))
            goto out;
        ks.brokers = pw_kafka_embedded_brokers(embedded);
        pw_log("info", "embedded Kafka broker at %s", ks.brokers);
        if (pw_brokers_write(ks.brokers) != 0)
            pw_log("warn", "cannot write %s: %s; postctl needs KAFKA_BROKERS=%s", PW_BROKERS_FILE,
                   strerror(errno), ks.brokers);
        else if (http && pw_api_write(cfg->http, pw_http_port(http)) != 0)
            pw_log("warn", "cannot write %s: %s; postctl needs --api", PW_API_FILE,
                   strerror(errno));
    }
    ks.embedded = !cfg->brokers; /* started here, or a running worker's */
    if ((rc = replay_may_publish(cfg, &st.store, &err)))
        goto out;
    const char *warm[] = {cfg->events_topic, cfg->dlq_topic, NULL};
    if (cfg->no_publish)
        pw_discard_bus_open(&bus);
    else if ((rc = pw_kafka_bus_open(&bus, &ks, warm, &err)))
        goto out;
    pw_uuid_ids_open(&ids);
    struct pw_app_ports ports = {.uow = test_faults(&st.uow), .store = &st.store,
                                 .outbox = &st.outbox, .bus = &bus, .ids = &ids};
    struct pw_app_config acfg = {.events_topic = cfg->events_topic,
                                 .dlq_topic = cfg->dlq_topic,
                                 .flush_timeout_ms = -1,
                                 .max_attempts = cfg->max_attempts,
                                 .instance = random_instance()};
    if ((rc = pw_app_open(&app, &ports, &acfg))) {
        pw_err_set(&err, rc, "out of memory assembling the application");
        goto out;
    }
    struct pw_service svc = pw_app_service(&app);
    struct pw_worker_opts opts = {
        .settings = &ks,
        .batch_size = cfg->batch_size,
        .batch_wait_ms = cfg->batch_wait_ms,
        .start = cfg->replay_from,
        .start_offset = cfg->replay_offset,
        .start_time_ms = cfg->replay_time / 1000,
        .stop = &stop_requested,
        .stats = &stats,
        .metrics = &metrics,
        /*
         * About a second of the worker's rate: PostgreSQL's is a third of
         * the in-memory store's, and 8 MiB keeps its peak RSS under 64 MiB
         * (16 MiB peaked at 47-66 MiB, 8 no slower: README, Benchmark).
         */
        .prefetch_kbytes = st.pg ? 8192 : 0,
        .log_fields = pw_log_line_fields,
    };
    if (cfg->mode == PW_MODE_RUN && pw_pruner_start(&pruner, &st.prune, cfg->inbox_retention_ms,
                                                     &ks, cfg->commands_topic, &metrics)) {
        rc = pw_err_set(&err, PW_E_NOMEM, "out of memory starting the inbox's retention");
        goto out;
    }
    pw_log("info", "%s '%s' (group '%s') into '%s', dead letters to '%s'",
           opts.start == PW_START_GROUP ? "consuming" : "replaying", cfg->commands_topic,
           cfg->group, cfg->events_topic, cfg->dlq_topic);
    rc = pw_worker_run(&opts, &svc, &err);
    pw_log("info",
           "stopped: %llu consumed, %llu applied, %llu duplicates, %llu rejected, %llu dead "
           "letters, %llu published%s%s",
           (unsigned long long)stats.consumed, (unsigned long long)stats.applied,
           (unsigned long long)stats.duplicates, (unsigned long long)stats.rejected,
           (unsigned long long)stats.dead_letters, (unsigned long long)stats.published,
           stop_signal ? "; asked by " : "", stop_signal ? signal_name(stop_signal) : "");
out:
    pw_pruner_stop(pruner); /* before the broker and the store it borrows */
    pw_systemd_notify_stop(notify);
    pw_http_stop(http);
    pw_query_close(&query);
    pw_app_close(&app);
    test_faults_close();
    pw_bus_close(&bus);
    if (embedded) {
        /* Only our own address: a file another worker wrote since is theirs. */
        const char *written = pw_brokers_read(false, found, sizeof found, NULL, 0);
        if (written && strcmp(written, pw_kafka_embedded_brokers(embedded)) == 0) {
            unlink(PW_BROKERS_FILE);
            unlink(PW_API_FILE);
        }
        pw_kafka_embedded_free(embedded);
    }
    pw_stores_close(&st);
    return exit_status(rc, &err);
}

/*
 * Dead letters back to the commands topic. No store: the worker decides
 * what each redriven command does. 0 when all that matched was sent; 1 if
 * the broker refused some or a stop came first (what was sent stays sent:
 * running it again is safe); 2 for usage.
 */
static int redrive(const struct pw_config *cfg)
{
    char buf[1024];
    struct pw_kafka_settings ks = pw_config_kafka(cfg, pw_log_line);
    ks.stop = &stop_requested;
    ks.client_id = "postworker-redrive";
    ks.embedded = !cfg->brokers;
    if (!(ks.brokers = pw_running_brokers(cfg, true, buf, sizeof buf))) {
        fprintf(stderr, "postworker: redrive needs the broker: set KAFKA_BROKERS or --brokers (or "
                        "start the worker on its embedded broker first)\n");
        return 2;
    }
    struct pw_redrive_opts o = {
        .settings = &ks,
        .kinds = cfg->kinds,
        .nkinds = cfg->nkinds,
        .codes = cfg->codes,
        .ncodes = cfg->ncodes,
        .start = cfg->replay_from == PW_START_GROUP ? PW_START_BEGINNING : cfg->replay_from,
        .start_offset = cfg->replay_offset,
        .start_time_ms = cfg->replay_time / 1000,
        .dry_run = cfg->dry_run,
        .stop = &stop_requested,
    };
    struct pw_redrive_stats st;
    struct pw_errbuf err;
    pw_log("info", "redrive%s: '%s' to '%s' at %s", cfg->dry_run ? " (dry run: nothing is sent)" : "",
           cfg->dlq_topic, cfg->commands_topic, ks.brokers);
    enum pw_err rc = pw_kafka_redrive(&o, &st, &err);
    pw_log(rc ? "warn" : "info",
           "redrive %s: %llu read from '%s'; %llu %s to '%s'; skipped %llu that did not match, "
           "%llu without their value, %llu that are not dead letters",
           rc ? "incomplete" : "done", (unsigned long long)st.read, cfg->dlq_topic,
           (unsigned long long)st.sent, cfg->dry_run ? "would be sent" : "sent",
           cfg->commands_topic, (unsigned long long)st.skipped, (unsigned long long)st.dropped,
           (unsigned long long)st.foreign);
    if (!rc)
        return 0;
    pw_log("error", "%s", err.msg);
    return rc == PW_E_USAGE ? 2 : 1;
}

/* The parked posts, a line each (parking.c). 0; 1 if the database fails. */
static int parked_list(const struct pw_config *cfg)
{
    struct pw_stores st;
    struct pw_errbuf err;
    enum pw_err rc = pw_stores_open(&st, cfg, &metrics, &stop_requested, &err);
    if (!rc)
        rc = pw_parked_print(&st.store, stdout, &err);
    pw_stores_close(&st);
    return exit_status(rc, &err);
}

/* release (parking.c): 0 done, 1 if it is not parked or the database fails. */
static int release(const struct pw_config *cfg)
{
    struct pw_stores st;
    struct pw_errbuf err;
    bool found = false;
    enum pw_err rc = pw_stores_open(&st, cfg, &metrics, &stop_requested, &err);
    if (!rc)
        rc = pw_release_print(&st.store, cfg->post_id, cfg->dry_run, stdout, &found, &err);
    pw_stores_close(&st);
    if (rc)
        return exit_status(rc, &err);
    if (!found)
        fprintf(stderr, "postworker: post '%s' is not parked, or drains already: nothing to "
                        "release (postworker parked lists them)\n", cfg->post_id);
    return found ? 0 : 1;
}

/* The mode cfg asks for; its exit status. */
static int main_mode(const struct pw_config *cfg)
{
    struct pw_errbuf err;
    pw_log_configure(cfg->log_format, cfg->log_level);
    if (cfg->help) {
        fputs(pw_config_usage, stdout);
        return 0;
    }
    if (cfg->version) {
        printf("postworker %s\n", PW_VERSION);
        return 0;
    }
    if (cfg->mode == PW_MODE_RUN || cfg->mode == PW_MODE_REPLAY || cfg->mode == PW_MODE_REDRIVE) {
        /* Before anything starts, connects or migrates: a bad flag changes nothing. */
        struct pw_kafka_settings ks = pw_config_kafka(cfg, NULL);
        if (pw_kafka_settings_check(&ks, &err)) {
            fprintf(stderr, "postworker: %s\n", err.msg);
            return 2;
        }
    }
    if (cfg->mode == PW_MODE_REDRIVE)
        return redrive(cfg);
    /* Tools print their answer: the store's start-up lines would only be in its way. */
    if ((cfg->mode == PW_MODE_PARKED || cfg->mode == PW_MODE_RELEASE) &&
        strcmp(cfg->log_level, "info") == 0)
        pw_log_configure(cfg->log_format, "warn");
    if (cfg->mode == PW_MODE_PARKED)
        return parked_list(cfg);
    if (cfg->mode == PW_MODE_RELEASE)
        return release(cfg);
    if (cfg->mode == PW_MODE_SERVE)
        return pw_serve(cfg, &metrics, &stop_requested);
    if (cfg->mode == PW_MODE_MIGRATE) {
        struct pw_stores st;
        enum pw_err rc = pw_stores_open(&st, cfg, &metrics, &stop_requested, &err);
        pw_stores_close(&st);
        if (rc && stop_requested && pw_err_is_transient(rc)) {
            /* Not a clean stop: the migrations it was asked for have not run. */
            pw_log("error", "interrupted before the migrations ran: %s", err.msg);
            return 1;
        }
        return exit_status(rc, &err);
    }
    return run(cfg);
}

int main(int argc, char **argv)
{
    struct pw_config cfg;
    struct pw_errbuf err;
    /* First: a SIGTERM however early (a supervisor's stop right after a start) is a clean stop. */
    install_signals();
    /*
     * glibc hands freed memory back to the kernel once 128 KiB lie free at
     * a heap's top, and maps big blocks one by one: each give-back is a TLB
     * flush on every core. The read API frees a page's ~20 KiB answers by
     * the thousand a second; with these bounds a page of 50 on PostgreSQL
     * went from 2,200 to 3,800 answers a second (docs/benchmark.md).
     */
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    pw_log_init("postworker");
    if (pw_config_parse(&cfg, argc, argv, (pw_getenv_fn)getenv, &err)) {
        fprintf(stderr, "postworker: %s\n", err.msg);
        pw_config_release(&cfg);
        return 2;
    }
    int status = main_mode(&cfg);
    pw_config_release(&cfg);
    return status;
}

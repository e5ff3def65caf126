/*
 * postctl: the client. It posts commands (as CloudEvents, keyed by post id,
 * acknowledged by the broker), sends files of them, tails the topics, and
 * reads posts and commands' outcomes through the worker's read API.
 * Exit status: 0 success, 1 runtime failure, 2 bad usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "adapters/curl/curl.h"
#include "adapters/kafka/client_kafka.h"
#include "adapters/kafka/cloudevents.h"
#include "bootstrap/brokers.h"
#include "bootstrap/config.h"
#include "domain/text.h"
#include "bootstrap/version.h"
#include "bootstrap/log.h"
#include "domain/command.h"

static const char usage[] =
    "usage: postctl [options] COMMAND ...\n"
    "\n"
    "  create --post-id ID --author NAME --title TEXT --body TEXT\n"
    "  update --post-id ID [--title TEXT] [--body TEXT] [--expected-version N]\n"
    "  delete --post-id ID [--expected-version N]\n"
    "         post a command and print its id; each also takes --id ID and\n"
    "         --correlation-id ID (default: a fresh UUID, and none), and --wait:\n"
    "         wait (30 s at most) for its outcome and print it (exit 1 unless applied),\n"
    "         from the read API when it is known (--api), else from the topics\n"
    "  send FILE|-   post one CloudEvent JSON per line, keyed by its data.post_id\n"
    "  tail events|dlq|commands [--from-beginning] [--envelope]\n"
    "                print each message as one JSON line until interrupted; with\n"
    "                --envelope, with its key, headers and position (as dlq always is)\n"
    "  get POST_ID [--from-events]\n"
    "                print a post (GET /posts/POST_ID); --from-events: its latest\n"
    "                state read from the events topic instead, with no worker needed\n"
    "  list [--author NAME] [--deleted exclude|include|only] [--limit N]\n"
    "       [--after CURSOR | --all]\n"
    "                print a page of posts a line each, oldest first (GET /posts)\n"
    "\n"
    "options:\n"
    "  --brokers LIST           KAFKA_BROKERS, else the file .postworker/brokers\n"
    "  --api URL                POSTWORKER_API: the worker's read API, else the file\n"
    "                           .postworker/http, else http://127.0.0.1:9464\n"
    "  --commands-topic NAME    POSTWORKER_COMMANDS_TOPIC (post-commands)\n"
    "  --events-topic NAME      POSTWORKER_EVENTS_TOPIC (post-events)\n"
    "  --dlq-topic NAME         POSTWORKER_DLQ_TOPIC (post-commands.dlq)\n"
    "  -X key=value             a librdkafka property (repeatable)\n"
    "  -F FILE                  POSTWORKER_KAFKA_CONFIG: librdkafka properties, key=value a\n"
    "                           line, as kcat's -F (keep secrets there); -X wins over it\n"
    "  --version                print the version and exit\n"
    "  -h, --help               this text\n";

struct opts {
    struct pw_config cfg; /* brokers, topics and -X: the worker's table */
    const char *post_id, *author, *title, *body, *id, *correlation_id, *expected;
    const char *deleted, *limit, *after; /* list */
    bool from_beginning, from_events, envelope, all;
    bool wait;            /* create/update/delete: wait for the outcome and print it */
    const char *args[4]; /* the command and its operands */
    int nargs;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Ctrl-C ends a tail or a --wait cleanly instead of killing the process. */
static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int usage_error(const char *fmt, const char *what)
{
    fprintf(stderr, "postctl: ");
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    return 2;
}

/* Parses argv into *o; returns 0, or the exit status (2, or 0 after --help). */
static int parse(struct opts *o, int argc, char **argv)
{
    static const struct {
        const char *flag;
        size_t offset;
    } valued[] = {
        {"--post-id", offsetof(struct opts, post_id)},
        {"--author", offsetof(struct opts, author)},
        {"--title", offsetof(struct opts, title)},
        {"--body", offsetof(struct opts, body)},
        {"--id", offsetof(struct opts, id)},
        {"--correlation-id", offsetof(struct opts, correlation_id)},
        {"--expected-version", offsetof(struct opts, expected)},
        {"--deleted", offsetof(struct opts, deleted)},
        {"--limit", offsetof(struct opts, limit)},
        {"--after", offsetof(struct opts, after)},
    };
    struct pw_errbuf err;
    if (pw_config_init(&o->cfg, PW_PROG_CTL, (pw_getenv_fn)getenv, &err))
        return usage_error("%s", err.msg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool taken;
        if (pw_config_take(&o->cfg, PW_PROG_CTL, argc, argv, &i, &taken, &err))
            return usage_error("%s", err.msg);
        if (taken)
            continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return -1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("postctl %s\n", PW_VERSION);
            return -1;
        }
        if (strcmp(a, "--from-beginning") == 0) {
            o->from_beginning = true;
            continue;
        }
        bool *toggle = strcmp(a, "--wait") == 0          ? &o->wait
                       : strcmp(a, "--from-events") == 0 ? &o->from_events
                       : strcmp(a, "--envelope") == 0    ? &o->envelope
                       : strcmp(a, "--all") == 0         ? &o->all
                                                         : NULL;
        if (toggle) {
            *toggle = true;
            continue;
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0] && !matched; k++) {
            size_t n = strlen(valued[k].flag);
            if (strncmp(a, valued[k].flag, n) != 0 || (a[n] != '\0' && a[n] != '='))
                continue;
            matched = true;
            const char *v = a[n] == '=' ? a + n + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v)
                return usage_error("%s needs a value", valued[k].flag);
            *(const char **)((char *)o + valued[k].offset) = v;
        }
        if (matched)
            continue;
        if (a[0] == '-' && a[1] != '\0') {
            /* Only the flag: a misspelled --database=... holds a password. */
            char flag[64];
            snprintf(flag, sizeof flag, "%.*s", (int)strcspn(a, "="), a);
            return usage_error("unknown option '%s': see --help", flag);
        }
        if (o->nargs == 4)
            return usage_error("unexpected argument '%s': see --help", a);
        o->args[o->nargs++] = a;
    }
    return 0;
}

/* KAFKA_BROKERS or --brokers, else what the running worker wrote down. */
static const char *find_brokers(const struct opts *o, char *buf, size_t size)
{
    if (o->cfg.brokers)
        return o->cfg.brokers;
    return pw_brokers_read(true, buf, size, NULL, 0); /* from any folder of the checkout */
}

/*
 * The read API's base URL: --api or POSTWORKER_API, else the one the worker
 * on the embedded default wrote down beside its broker file, else make
 * run's. *known: one of the first two.
 */
static const char *api_base(const struct pw_config *cfg, bool *known, char *buf, size_t size)
{
    const char *found = cfg->api ? cfg->api : pw_api_find(buf, size);
    *known = found != NULL;
    if (found != buf)
        snprintf(buf, size, "%s", found ? found : "http://127.0.0.1:9464");
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '/')
        buf[--n] = '\0';
    return buf;
}

/* Whether anything answers HTTP at base, within 2 s. */
static bool api_answers(const char *base)
{
    char url[600];
    snprintf(url, sizeof url, "%s/healthz", base);
    struct pw_http_reply r;
    struct pw_errbuf err;
    if (pw_curl_get(url, NULL, 2000, &r, &err))
        return false;
    pw_http_reply_release(&r);
    return true;
}

/* An API call's failure said, and postctl's exit status for it. */
static int api_status(enum pw_err rc, const struct pw_errbuf *err)
{
    if (rc)
        fprintf(stderr, "postctl: %s\n", err->msg);
    return rc == PW_OK ? 0 : rc == PW_E_USAGE ? 2 : 1;
}

/* The CloudEvents Kafka binding's header for structured mode, so that its SDKs know the message. */
static const char *const structured[] = {"content-type=application/cloudevents+json", NULL};

static int cmd_post(const struct opts *o, const struct pw_kafka_settings *ks, enum pw_cmd_type type)
{
    if (!o->post_id)
        return usage_error("%s needs --post-id", pw_cmd_type_name(type));
    if (type == PW_CMD_CREATE_POST && (!o->author || !o->title || !o->body))
        return usage_error("%s needs --author, --title and --body", "create");
    if (type == PW_CMD_UPDATE_POST && !o->title && !o->body)
        return usage_error("%s needs --title or --body", "update");
    struct pw_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = type;
    cmd.post_id = o->post_id;
    cmd.author_name = type == PW_CMD_CREATE_POST ? o->author : NULL;
    cmd.title = type != PW_CMD_DELETE_POST ? o->title : NULL;
    cmd.body = type != PW_CMD_DELETE_POST ? o->body : NULL;
    if (o->expected) {
        char *end;
        errno = 0;
        long long v = strtoll(o->expected, &end, 10);
        if (errno || *end || v < 1)
            return usage_error("--expected-version '%s' must be a whole number of at least 1",
                               o->expected);
        cmd.expected_version = v;
    }
    snprintf(cmd.env.source, sizeof cmd.env.source, "/postctl");
    if (o->id) {
        snprintf(cmd.env.id, sizeof cmd.env.id, "%s", o->id);
    } else {
        uuid_t u;
        uuid_generate_random(u);
        uuid_unparse_lower(u, cmd.env.id);
    }
    if (o->correlation_id)
        snprintf(cmd.env.correlation_id, sizeof cmd.env.correlation_id, "%s", o->correlation_id);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    cmd.env.time = (pw_time)now.tv_sec * 1000000 + now.tv_nsec / 1000;

    struct pw_errbuf err;
    char *json = NULL;
    size_t len;
    struct pw_kafka_client *c = NULL;
    struct pw_kafka_watch *watch = NULL;
    int status = 1;
    char api[512];
    bool api_known = false;
    api_base(&o->cfg, &api_known, api, sizeof api);
    if (o->wait && api_known && !api_answers(api)) {
        fprintf(stderr, "postctl: the read API at %s does not answer: waiting on the topics "
                "instead\n", api);
        api_known = false;
    }
    /* The watch opens first: its start is the topics' ends before the command goes. */
    if ((o->wait && !api_known && pw_kafka_watch_open(&watch, ks, &err)) ||
        pw_ce_encode_cmd(&cmd, &json, &len, &err) || pw_kafka_client_new(&c, ks, &err) ||
        pw_kafka_client_produce(c, ks->commands_topic, cmd.post_id, json, len, structured, &err) ||
        pw_kafka_client_flush(c, &err) > 0) {
        fprintf(stderr, "postctl: %s\n", err.msg);
    } else {
        printf("%s\n", cmd.env.id);
        status = 0;
    }
    if (!status && o->wait && api_known) {
        install_signals();
        fflush(stdout);
        bool applied = false;
        status = api_status(pw_api_wait(api, cmd.env.source, cmd.env.id, cmd.post_id, 30, stdout,
                                        &applied, &err), &err);
        status = status ? status : !applied;
    } else if (!status && watch) {
        install_signals();
        char line[512];
        fflush(stdout);
        enum pw_err rc = pw_kafka_watch_await(watch, cmd.env.source, cmd.env.id, 30000,
                                              &stop_requested, line, sizeof line);
        char safe[1024];
        printf("%s\n", pw_text_escape(line, safe, sizeof safe));
        status = rc == PW_OK ? 0 : 1;
    }
    pw_kafka_watch_free(watch);
    pw_kafka_client_free(c);
    free(json);
    return status;
}

static int cmd_send(const struct opts *o, const struct pw_kafka_settings *ks)
{
    if (o->nargs != 2)
        return usage_error("send takes one FILE, or - for standard input%s", "");
    const char *path = o->args[1];
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!in) {
        fprintf(stderr, "postctl: cannot open '%s': %s\n", path, strerror(errno));
        return 1;
    }
    struct pw_errbuf err;
    struct pw_kafka_client *c = NULL;
    if (pw_kafka_client_new(&c, ks, &err)) {
        fprintf(stderr, "postctl: %s\n", err.msg);
        if (in != stdin)
            fclose(in);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0, queued = 0, bad = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        char post_id[PW_POST_ID_MAX + 1];
        if (pw_ce_peek_post_id(line, (size_t)n, post_id, &err) ||
            pw_kafka_client_produce(c, ks->commands_topic, post_id, line, (size_t)n, structured, &err)) {
            fprintf(stderr, "postctl: %s:%zu: %s; not sent\n", path, lineno, err.msg);
            bad++;
            continue;
        }
        queued++;
    }
    free(line);
    if (in != stdin)
        fclose(in);
    size_t failed = pw_kafka_client_flush(c, &err);
    if (failed)
        fprintf(stderr, "postctl: %s\n", err.msg);
    pw_kafka_client_free(c);
    fprintf(stderr, "postctl: sent %zu of %zu lines\n", queued - failed, queued + bad);
    return bad || failed ? 1 : 0;
}

static int cmd_tail(const struct opts *o, const struct pw_kafka_settings *ks)
{
    if (o->nargs != 2)
        return usage_error("tail takes events, dlq or commands%s", "");
    const char *which = o->args[1];
    const char *topic = strcmp(which, "events") == 0     ? ks->events_topic
                        : strcmp(which, "dlq") == 0      ? ks->dlq_topic
                        : strcmp(which, "commands") == 0 ? ks->commands_topic
                                                         : NULL;
    if (!topic)
        return usage_error("tail takes events, dlq or commands, not '%s'", which);
    install_signals();
    struct pw_errbuf err;
    enum pw_tail_format fmt =
        o->envelope || strcmp(which, "dlq") == 0 ? PW_TAIL_ENVELOPE : PW_TAIL_VALUE;
    if (pw_kafka_tail(ks, topic, o->from_beginning, false, fmt, &stop_requested, stdout, &err)) {
        fprintf(stderr, "postctl: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int cmd_get(const struct opts *o, const struct pw_kafka_settings *ks)
{
    if (o->nargs != 2)
        return usage_error("get takes one POST_ID%s", "");
    if (!o->from_events) {
        char api[512];
        bool known;
        struct pw_errbuf err;
        return api_status(pw_api_get(api_base(&o->cfg, &known, api, sizeof api), o->args[1],
                                     stdout, &err), &err);
    }
    if (!ks->brokers)
        return usage_error("no broker for --from-events: set KAFKA_BROKERS or --brokers, or "
                           "start the worker with 'make run'%s", "");
    struct pw_errbuf err;
    char *json = NULL;
    if (pw_kafka_get_post(ks, o->args[1], &json, &err)) {
        fprintf(stderr, "postctl: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", json);
    free(json);
    return 0;
}

/* The command postctl was given; its exit status. */
static int postctl_command(struct opts *o)
{
    if (o->nargs == 0)
        return usage_error("a command is needed: create, update, delete, send, tail, get or "
                           "list%s", "");
    char buf[512];
    struct pw_kafka_settings ks = pw_config_kafka(&o->cfg, NULL);
    ks.client_id = "postctl";
    ks.brokers = find_brokers(o, buf, sizeof buf);
    ks.embedded = !o->cfg.brokers; /* the running worker's */
    ks.group = "postctl";
    const char *c = o->args[0];
    if (strcmp(c, "get") == 0)
        return cmd_get(o, &ks);
    if (strcmp(c, "list") == 0) {
        if (o->nargs != 1)
            return usage_error("list takes options only (--author, --deleted, --limit, --after, "
                               "--all)%s", "");
        char api[512];
        bool known;
        struct pw_api_list_opts lo = {o->author, o->deleted, o->limit, o->after, o->all};
        char next[512];
        struct pw_errbuf err;
        int status = api_status(pw_api_list(api_base(&o->cfg, &known, api, sizeof api), &lo,
                                            stdout, next, sizeof next, &err), &err);
        if (!status && next[0])
            fprintf(stderr, "postctl: more: add --after %s (or --all)\n", next);
        return status;
    }
    if (!ks.brokers)
        return usage_error("no broker: set KAFKA_BROKERS or --brokers, or start the worker "
                           "with 'make run' (it writes .postworker/brokers)%s", "");
    if (strcmp(c, "create") == 0)
        return cmd_post(o, &ks, PW_CMD_CREATE_POST);
    if (strcmp(c, "update") == 0)
        return cmd_post(o, &ks, PW_CMD_UPDATE_POST);
    if (strcmp(c, "delete") == 0)
        return cmd_post(o, &ks, PW_CMD_DELETE_POST);
    if (strcmp(c, "send") == 0)
        return cmd_send(o, &ks);
    if (strcmp(c, "tail") == 0)
        return cmd_tail(o, &ks);
    return usage_error("unknown command '%s': see --help", c);
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    pw_log_init("postctl");
    int status = parse(&o, argc, argv);
    struct pw_errbuf err;
    if (!status && pw_config_finish(&o.cfg, &err))
        status = usage_error("%s", err.msg);
    if (status) {
        pw_config_release(&o.cfg);
        return status < 0 ? 0 : status;
    }
    pw_log_configure(o.cfg.log_format, o.cfg.log_level);
    status = postctl_command(&o);
    pw_config_release(&o.cfg);
    return status;
}

/*
 * Flags and environment. Each setting has one row in a table, so that the
 * flag, its variable and its default cannot disagree; values are checked
 * here so that a bad one stops the worker at start with exit 2, not later.
 */
#include "bootstrap/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/post.h"


enum setting_kind { S_STRING, S_GROUP, S_TOPIC, S_SIZE, S_MS, S_COUNT, S_CHOICE, S_DURATION };

#define BOTH (PW_PROG_WORKER | PW_PROG_CTL)
#define WORKER PW_PROG_WORKER

static const struct setting {
    const char *flag, *env, *def;
    enum setting_kind kind;
    const char *choices; /* S_CHOICE: the values it takes, "a|b|c" */
    size_t offset;   /* of the field in struct pw_config */
    unsigned progs;  /* which programs take it */
} settings[] = {
    {"--brokers", "KAFKA_BROKERS", NULL, S_STRING, NULL, offsetof(struct pw_config, brokers), BOTH},
    {"--database", "DATABASE_URL", NULL, S_STRING, NULL, offsetof(struct pw_config, database), WORKER},
    {"--group", "POSTWORKER_GROUP", "postworker", S_GROUP, NULL, offsetof(struct pw_config, group),
     WORKER},
    {"--commands-topic", "POSTWORKER_COMMANDS_TOPIC", "post-commands", S_TOPIC, NULL,
     offsetof(struct pw_config, commands_topic), BOTH},
    {"--events-topic", "POSTWORKER_EVENTS_TOPIC", "post-events", S_TOPIC, NULL,
     offsetof(struct pw_config, events_topic), BOTH},
    {"--dlq-topic", "POSTWORKER_DLQ_TOPIC", "post-commands.dlq", S_TOPIC, NULL,
     offsetof(struct pw_config, dlq_topic), BOTH},
    {"--batch-size", "POSTWORKER_BATCH_SIZE", "500", S_SIZE, NULL,
     offsetof(struct pw_config, batch_size), WORKER},
    {"--batch-wait-ms", "POSTWORKER_BATCH_WAIT_MS", "5", S_MS, NULL,
     offsetof(struct pw_config, batch_wait_ms), WORKER},
    {"--max-attempts", "POSTWORKER_MAX_ATTEMPTS", "3", S_COUNT, NULL,
     offsetof(struct pw_config, max_attempts), WORKER},
    {"--durability", "POSTWORKER_DURABILITY", "strict", S_CHOICE, "strict|relaxed",
     offsetof(struct pw_config, durability), WORKER},
    {"--inbox-retention", "POSTWORKER_INBOX_RETENTION", NULL, S_DURATION, NULL,
     offsetof(struct pw_config, inbox_retention_ms), WORKER},
    {"--http", "POSTWORKER_HTTP", NULL, S_STRING, NULL, offsetof(struct pw_config, http), WORKER},
    {"--api", "POSTWORKER_API", NULL, S_STRING, NULL, offsetof(struct pw_config, api), PW_PROG_CTL},
    {"-F", "POSTWORKER_KAFKA_CONFIG", NULL, S_STRING, NULL,
     offsetof(struct pw_config, kafka_config), BOTH},
    {"--log-format", "POSTWORKER_LOG_FORMAT", "text", S_CHOICE, "text|json",
     offsetof(struct pw_config, log_format), BOTH},
    {"--log-level", "POSTWORKER_LOG_LEVEL", "info", S_CHOICE, "debug|info|warn|error",
     offsetof(struct pw_config, log_level), BOTH},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static bool parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Kafka's own rule: 1 to 249 characters of [a-zA-Z0-9._-]. */
static bool topic_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 249)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/*
 * A duration as a whole number and a unit (ms, s, m, h, d), up to 100 years,
 * or "forever" (-1). Bare numbers are refused: seconds or milliseconds?
 */
static enum pw_err parse_duration(const char *value, const char *from, int64_t *ms,
                                  struct pw_errbuf *err)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    if (strcmp(value, "forever") == 0) {
        *ms = -1;
        return PW_OK;
    }
    size_t digits = strspn(value, "0123456789");
    char num[20];
    long long v;
    if (digits > 0 && digits < sizeof num) {
        memcpy(num, value, digits);
        num[digits] = '\0';
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++)
            if (strcmp(value + digits, units[u].unit) == 0 &&
                parse_int(num, 1, 36500LL * 86400000 / units[u].ms, &v)) {
                *ms = v * units[u].ms;
                return PW_OK;
            }
    }
    return pw_err_set(err, PW_E_USAGE,
                      "%s '%.30s' must be a time such as 90s, 30m, 12h or 8d, or forever", from,
                      value);
}

/* Checks value and stores it; from names where it came from, for the message. */
static enum pw_err apply(struct pw_config *cfg, const struct setting *s, const char *value,
                         const char *from, struct pw_errbuf *err)
{
    char *field = (char *)cfg + s->offset;
    long long v;
    switch (s->kind) {
    case S_STRING:
        if (!*value)
            return pw_err_set(err, PW_E_USAGE, "%s is empty: give a value or unset it", from);
        *(const char **)field = value;
        return PW_OK;
    case S_GROUP:
        if (!*value)
            return pw_err_set(err, PW_E_USAGE, "%s is empty: give a value or unset it", from);
        /* Kafka sets no limit; ours keeps a group's stored offsets' keys bounded. */
        if (strlen(value) > 255)
            return pw_err_set(err, PW_E_USAGE, "%s must be 1 to 255 bytes", from);
        *(const char **)field = value;
        return PW_OK;
    case S_TOPIC:
        if (!topic_ok(value))
            return pw_err_set(err, PW_E_USAGE,
                              "%s '%.60s' is not a topic name: use 1 to 249 of a-z A-Z 0-9 . _ -",
                              from, value);
        *(const char **)field = value;
        return PW_OK;
    case S_SIZE:
        if (!parse_int(value, 1, 10000, &v))
            return pw_err_set(err, PW_E_USAGE, "%s '%.30s' must be a whole number from 1 to 10000",
                              from, value);
        *(size_t *)field = (size_t)v;
        return PW_OK;
    case S_MS:
        if (!parse_int(value, 0, 60000, &v))
            return pw_err_set(err, PW_E_USAGE,
                              "%s '%.30s' must be milliseconds from 0 to 60000", from, value);
        *(int *)field = (int)v;
        return PW_OK;
    case S_CHOICE: {
        size_t n = strchr(value, '|') ? 0 : strlen(value); /* one choice, not "a|b" */
        for (const char *c = s->choices; n && *c; c += strcspn(c, "|"), c += *c == '|')
            if (strncmp(c, value, n) == 0 && (c[n] == '|' || c[n] == '\0')) {
                *(const char **)field = value;
                return PW_OK;
            }
        return pw_err_set(err, PW_E_USAGE, "%s '%.30s' must be one of %s", from, value,
                          s->choices);
    }
    case S_DURATION:
        return parse_duration(value, from, (int64_t *)field, err);
    case S_COUNT:
        /*
         * At least 2: one death of a batch cannot say which of its messages
         * killed it, and a 1 would give up on one that did not.
         */
        if (!parse_int(value, 2, 1000, &v))
            return pw_err_set(err, PW_E_USAGE, "%s '%.30s' must be a whole number from 2 to 1000",
                              from, value);
        *(unsigned *)field = (unsigned)v;
        return PW_OK;
    }
    return PW_E_USAGE;
}

static enum pw_err parse_replay(struct pw_config *cfg, const char *flag, const char *value,
                                struct pw_errbuf *err)
{
    if (cfg->replay_from != PW_START_GROUP)
        return pw_err_set(err, PW_E_USAGE, "give one starting point, not two");
    if (strcmp(flag, "--from-beginning") == 0) {
        cfg->replay_from = PW_START_BEGINNING;
        return PW_OK;
    }
    if (strcmp(flag, "--from-offset") == 0) {
        long long v;
        if (!parse_int(value, 0, INT64_MAX, &v))
            return pw_err_set(err, PW_E_USAGE, "--from-offset '%.30s' must be an offset of 0 or more",
                              value);
        cfg->replay_from = PW_START_OFFSET;
        cfg->replay_offset = v;
        return PW_OK;
    }
    if (!pw_time_parse(value, strlen(value), &cfg->replay_time))
        return pw_err_set(err, PW_E_USAGE,
                          "--from-time '%.40s' is not RFC 3339, e.g. 2026-11-20T10:00:00Z", value);
    cfg->replay_from = PW_START_TIME;
    return PW_OK;
}

/* The value of a flag: "--flag=value" or the next argument. */
static enum pw_err flag_value(const char *arg, size_t flen, int argc, char **argv, int *i,
                              const char **value, struct pw_errbuf *err)
{
    if (arg[flen] == '=') {
        *value = arg + flen + 1;
        return PW_OK;
    }
    if (*i + 1 >= argc)
        return pw_err_set(err, PW_E_USAGE, "%.*s needs a value", (int)flen, arg);
    *value = argv[++*i];
    return PW_OK;
}

static bool is_flag(const char *arg, const char *flag, size_t *flen)
{
    size_t n = strlen(flag);
    *flen = n;
    return strncmp(arg, flag, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static enum pw_err parse_prop(struct pw_config *cfg, const char *kv, struct pw_errbuf *err)
{
    const char *eq = strchr(kv, '=');
    /* Never echo what follows a key: it may be a password typed with a space for '='. */
    if (!eq)
        return pw_err_set(err, PW_E_USAGE, "-X takes key=value, and '%.*s...' has no '='",
                          (int)strcspn(kv, " \t:"), kv);
    if (eq == kv)
        return pw_err_set(err, PW_E_USAGE, "-X takes key=value, and the key is empty");
    if (cfg->nprops == PW_CONFIG_MAX_PROPS)
        return pw_err_set(err, PW_E_USAGE, "more than %d -X properties", PW_CONFIG_MAX_PROPS);
    cfg->props[cfg->nprops++] = kv;
    return PW_OK;
}

enum pw_err pw_config_take(struct pw_config *cfg, enum pw_program prog, int argc, char **argv,
                           int *i, bool *taken, struct pw_errbuf *err)
{
    const char *arg = argv[*i], *value = NULL;
    size_t flen;
    enum pw_err rc;
    *taken = true;
    if (strncmp(arg, "-X", 2) == 0)
        return parse_prop(cfg, arg[2] ? arg + 2 : (*i + 1 < argc ? argv[++*i] : ""), err);
    for (size_t k = 0; k < NSETTINGS; k++) {
        if (!(settings[k].progs & prog) || !is_flag(arg, settings[k].flag, &flen))
            continue;
        if ((rc = flag_value(arg, flen, argc, argv, i, &value, err)))
            return rc;
        cfg->events_named |= settings[k].offset == offsetof(struct pw_config, events_topic);
        cfg->dlq_named |= settings[k].offset == offsetof(struct pw_config, dlq_topic);
        return apply(cfg, &settings[k], value, settings[k].flag, err);
    }
    *taken = false;
    return PW_OK;
}

/* A redrive filter: --kind is a dead-letter kind, --code a dead-letter code. */
static enum pw_err parse_filter(struct pw_config *cfg, bool kind, const char *value,
                               struct pw_errbuf *err)
{
    bool known = false;
    for (int c = 1; c < PW_E__COUNT && !known; c++)
        known = pw_err_is_dead_letter((enum pw_err)c) &&
                strcmp(value, kind ? pw_err_kind_name(pw_err_kind((enum pw_err)c))
                                   : pw_err_name((enum pw_err)c)) == 0;
    if (!known)
        return pw_err_set(err, PW_E_USAGE,
                          kind ? "--kind '%.40s' is not a dead-letter kind: use malformed, "
                                 "unsupported, rejected or failed"
                               : "--code '%.40s' is not a dead-letter code: see dlq.error.code in "
                                 "the README",
                          value);
    const char **set = kind ? cfg->kinds : cfg->codes;
    size_t *n = kind ? &cfg->nkinds : &cfg->ncodes;
    if (*n == PW_CONFIG_MAX_FILTERS)
        return pw_err_set(err, PW_E_USAGE, "more than %d %s filters", PW_CONFIG_MAX_FILTERS,
                          kind ? "--kind" : "--code");
    set[(*n)++] = value;
    return PW_OK;
}

static enum pw_err parse_arg(struct pw_config *cfg, int argc, char **argv, int *i,
                             bool *seen_mode, struct pw_errbuf *err)
{
    const char *arg = argv[*i], *value = NULL;
    size_t flen;
    bool taken;
    enum pw_err rc;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        cfg->help = true;
        return PW_OK;
    }
    if (strcmp(arg, "--version") == 0) {
        cfg->version = true;
        return PW_OK;
    }
    if ((rc = pw_config_take(cfg, PW_PROG_WORKER, argc, argv, i, &taken, err)) || taken)
        return rc;
    if (strcmp(arg, "--from-beginning") == 0)
        return parse_replay(cfg, arg, NULL, err);
    if (strcmp(arg, "--dry-run") == 0) {
        cfg->dry_run = true;
        return PW_OK;
    }
    if (strcmp(arg, "--no-publish") == 0) {
        cfg->no_publish = true;
        return PW_OK;
    }
    if (is_flag(arg, "--post-id", &flen))
        return flag_value(arg, flen, argc, argv, i, &cfg->post_id, err);
    if (is_flag(arg, "--kind", &flen) || is_flag(arg, "--code", &flen)) {
        bool kind = arg[2] == 'k';
        if ((rc = flag_value(arg, flen, argc, argv, i, &value, err)))
            return rc;
        return parse_filter(cfg, kind, value, err);
    }
    if (is_flag(arg, "--from-offset", &flen) || is_flag(arg, "--from-time", &flen)) {
        char flag[16];
        snprintf(flag, sizeof flag, "%.*s", (int)flen, arg);
        if ((rc = flag_value(arg, flen, argc, argv, i, &value, err)))
            return rc;
        return parse_replay(cfg, flag, value, err);
    }
    if (arg[0] == '-')
        return pw_err_set(err, PW_E_USAGE, "unknown option '%.*s': see --help",
                          (int)strcspn(arg, "="), arg); /* its value may be a secret */
    if (*seen_mode)
        return pw_err_set(err, PW_E_USAGE, "unexpected argument '%.60s': see --help", arg);
    *seen_mode = true;
    if (strcmp(arg, "run") == 0)
        cfg->mode = PW_MODE_RUN;
    else if (strcmp(arg, "migrate") == 0)
        cfg->mode = PW_MODE_MIGRATE;
    else if (strcmp(arg, "replay") == 0)
        cfg->mode = PW_MODE_REPLAY;
    else if (strcmp(arg, "redrive") == 0)
        cfg->mode = PW_MODE_REDRIVE;
    else if (strcmp(arg, "parked") == 0)
        cfg->mode = PW_MODE_PARKED;
    else if (strcmp(arg, "release") == 0)
        cfg->mode = PW_MODE_RELEASE;
    else if (strcmp(arg, "serve") == 0)
        cfg->mode = PW_MODE_SERVE;
    else
        return pw_err_set(err, PW_E_USAGE,
                          "unknown command '%.60s': use run, migrate, replay, redrive, parked, "
                          "release or serve",
                          arg);
    return PW_OK;
}

enum pw_err pw_config_init(struct pw_config *cfg, enum pw_program prog, pw_getenv_fn env,
                           struct pw_errbuf *err)
{
    memset(cfg, 0, sizeof *cfg);
    /* Defaults, then the environment; flags come later and win. */
    for (size_t k = 0; k < NSETTINGS; k++) {
        if (!(settings[k].progs & prog))
            continue;
        const char *value = env ? env(settings[k].env) : NULL;
        const char *from = settings[k].env;
        /*
         * An empty variable is refused, not taken as unset: a deployment whose
         * KAFKA_BROKERS templated to "" would otherwise run on an embedded
         * broker and consume nothing, and an empty DATABASE_URL keep nothing.
         */
        if (value && !*value && settings[k].kind == S_STRING && !settings[k].def)
            return pw_err_set(err, PW_E_USAGE, "%s is set but empty: unset it to use %s, or give "
                              "a value", settings[k].env,
                              settings[k].offset == offsetof(struct pw_config, brokers)
                                  ? "the embedded broker"
                                  : "the in-memory store");
        if (!value) {
            value = settings[k].def;
            from = settings[k].flag;
        }
        enum pw_err rc;
        if (value && (rc = apply(cfg, &settings[k], value, from, err)))
            return rc;
    }
    return PW_OK;
}

enum pw_err pw_config_finish(struct pw_config *cfg, struct pw_errbuf *err)
{
    cfg->nall_props = 0;
    if (cfg->kafka_config) {
        FILE *f = fopen(cfg->kafka_config, "r");
        if (!f)
            return pw_err_set(err, PW_E_USAGE, "-F %.200s: %s", cfg->kafka_config,
                              strerror(errno));
        size_t cap = 0;
        ssize_t len = getdelim(&cfg->file_buf, &cap, '\0', f); /* the whole file */
        bool failed = len < 0 && ferror(f);
        fclose(f);
        if (failed)
            return pw_err_set(err, PW_E_USAGE, "-F %.200s: cannot read it", cfg->kafka_config);
        if (len < 0) { /* empty: no properties */
            free(cfg->file_buf);
            cfg->file_buf = NULL;
        }
        int lineno = 0;
        for (char *line = cfg->file_buf, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            lineno++;
            line[strcspn(line, "\r")] = '\0';
            line += strspn(line, " \t");
            if (!*line || *line == '#')
                continue;
            /* Never echo a line: it may hold a password. */
            char *eq = strchr(line, '=');
            if (!eq || eq == line)
                return pw_err_set(err, PW_E_USAGE, "-F %.200s:%d: not key=value",
                                  cfg->kafka_config, lineno);
            if (cfg->nall_props == PW_CONFIG_MAX_PROPS)
                return pw_err_set(err, PW_E_USAGE, "-F %.200s: more than %d properties",
                                  cfg->kafka_config, PW_CONFIG_MAX_PROPS);
            cfg->all_props[cfg->nall_props++] = line;
        }
    }
    for (size_t i = 0; i < cfg->nprops; i++)
        cfg->all_props[cfg->nall_props++] = cfg->props[i];
    return PW_OK;
}

void pw_config_release(struct pw_config *cfg)
{
    free(cfg->file_buf);
    cfg->file_buf = NULL;
}

struct pw_kafka_settings pw_config_kafka(const struct pw_config *cfg, pw_log_fn log)
{
    return (struct pw_kafka_settings){
        .brokers = cfg->brokers,
        .props = cfg->all_props,
        .nprops = cfg->nall_props,
        .group = cfg->group,
        .commands_topic = cfg->commands_topic,
        .events_topic = cfg->events_topic,
        .dlq_topic = cfg->dlq_topic,
        .log = log,
    };
}

enum pw_err pw_config_parse(struct pw_config *cfg, int argc, char **argv, pw_getenv_fn env,
                            struct pw_errbuf *err)
{
    enum pw_err rc = pw_config_init(cfg, PW_PROG_WORKER, env, err);
    if (rc)
        return rc;
    bool seen_mode = false;
    for (int i = 1; i < argc; i++)
        if ((rc = parse_arg(cfg, argc, argv, &i, &seen_mode, err)))
            return rc;
    if (cfg->help || cfg->version)
        return PW_OK;
    if (cfg->mode == PW_MODE_REPLAY && cfg->replay_from == PW_START_GROUP)
        return pw_err_set(err, PW_E_USAGE,
                          "replay needs --from-beginning, --from-offset N or --from-time RFC3339");
    if (cfg->mode != PW_MODE_REPLAY && cfg->mode != PW_MODE_REDRIVE &&
        cfg->replay_from != PW_START_GROUP)
        return pw_err_set(err, PW_E_USAGE, "--from-* options go with replay or redrive only");
    if (cfg->mode != PW_MODE_REDRIVE && (cfg->nkinds || cfg->ncodes))
        return pw_err_set(err, PW_E_USAGE, "--kind and --code go with redrive only");
    if (cfg->mode != PW_MODE_REDRIVE && cfg->mode != PW_MODE_RELEASE && cfg->dry_run)
        return pw_err_set(err, PW_E_USAGE, "--dry-run goes with redrive or release only");
    if (cfg->mode != PW_MODE_REPLAY && cfg->no_publish)
        return pw_err_set(err, PW_E_USAGE, "--no-publish goes with replay only");
    if ((cfg->mode == PW_MODE_RELEASE) != (cfg->post_id != NULL))
        return pw_err_set(err, PW_E_USAGE, cfg->post_id ? "--post-id goes with release only"
                                                        : "release needs --post-id P");
    if (cfg->post_id && pw_post_check_id(cfg->post_id, NULL))
        return pw_err_set(err, PW_E_USAGE,
                          "--post-id '%.64s' is not a post id: 1 to 64 of A-Z a-z 0-9 . _ -",
                          cfg->post_id);
    if (cfg->mode == PW_MODE_MIGRATE && !cfg->database)
        return pw_err_set(err, PW_E_USAGE, "migrate needs a database: set DATABASE_URL or --database");
    if ((cfg->mode == PW_MODE_PARKED || cfg->mode == PW_MODE_RELEASE) && !cfg->database)
        return pw_err_set(err, PW_E_USAGE,
                          "%s needs the database the workers use: set DATABASE_URL or --database "
                          "(the in-memory store lives inside its worker: see its GET /parked)",
                          cfg->mode == PW_MODE_PARKED ? "parked" : "release");
    if (cfg->mode == PW_MODE_SERVE && (!cfg->database || !cfg->http))
        return pw_err_set(err, PW_E_USAGE,
                          "serve needs a database (DATABASE_URL or --database) and --http "
                          "HOST:PORT to answer on");
    return pw_config_finish(cfg, err);
}

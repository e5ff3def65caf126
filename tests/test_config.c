/* Configuration: the contract's table, flags over environment, exit-2 errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/config.h"

/* A fake environment: NAME=value strings, NULL-terminated. */
static const char *const *fake_env;

static const char *env_lookup(const char *name)
{
    size_t n = strlen(name);
    for (const char *const *e = fake_env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static enum pw_err parse(struct pw_config *cfg, const char *const *env, const char *const *args,
                         struct pw_errbuf *err)
{
    char *argv[32] = {"postworker"};
    int argc = 1;
    for (; args && args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    fake_env = env;
    return pw_config_parse(cfg, argc, argv, env_lookup, err);
}

Test(config, defaults_are_the_contracts)
{
    struct pw_config cfg;
    cr_assert_eq(parse(&cfg, NULL, NULL, NULL), PW_OK);
    cr_assert_eq(cfg.mode, PW_MODE_RUN);
    cr_assert_null(cfg.brokers, "embedded broker");
    cr_assert_null(cfg.database, "in-memory store");
    cr_assert_str_eq(cfg.group, "postworker");
    cr_assert_str_eq(cfg.commands_topic, "post-commands");
    cr_assert_str_eq(cfg.events_topic, "post-events");
    cr_assert_str_eq(cfg.dlq_topic, "post-commands.dlq");
    cr_assert_eq(cfg.batch_size, 500);
    cr_assert_eq(cfg.batch_wait_ms, 5);
    cr_assert_eq(cfg.max_attempts, 3);
    cr_assert_str_eq(cfg.durability, "strict");
    cr_assert_eq(cfg.inbox_retention_ms, 0, "from the commands topic");
    cr_assert_str_eq(cfg.log_format, "text");
    cr_assert_str_eq(cfg.log_level, "info");
    cr_assert_null(cfg.http);
}

Test(config, environment_sets_and_flags_win)
{
    const char *env[] = {"KAFKA_BROKERS=k1:9092", "DATABASE_URL=postgres:///x",
                         "POSTWORKER_GROUP=g-env", "POSTWORKER_COMMANDS_TOPIC=c-env",
                         "POSTWORKER_EVENTS_TOPIC=e-env", "POSTWORKER_DLQ_TOPIC=d-env",
                         "POSTWORKER_BATCH_SIZE=7", NULL};
    const char *args[] = {"--brokers", "k2:9092", "--group=g-flag", "--events-topic", "e-flag",
                          "-X", "security.protocol=SASL_SSL", "-Xsasl.password=s=cret",
                          "--batch-wait-ms=0", NULL};
    struct pw_config cfg;
    struct pw_errbuf err;
    cr_assert_eq(parse(&cfg, env, args, &err), PW_OK, "%s", err.msg);
    cr_assert_str_eq(cfg.brokers, "k2:9092");
    cr_assert_str_eq(cfg.database, "postgres:///x");
    cr_assert_str_eq(cfg.group, "g-flag");
    cr_assert_str_eq(cfg.commands_topic, "c-env");
    cr_assert_str_eq(cfg.events_topic, "e-flag");
    cr_assert_str_eq(cfg.dlq_topic, "d-env");
    cr_assert_eq(cfg.batch_size, 7);
    cr_assert_eq(cfg.batch_wait_ms, 0);
    cr_assert_eq(cfg.nprops, 2);
    cr_assert_str_eq(cfg.props[0], "security.protocol=SASL_SSL");
    cr_assert_str_eq(cfg.props[1], "sasl.password=s=cret");
}

Test(config, an_empty_kafka_brokers_or_database_url_is_refused_not_taken_as_unset)
{
    const char *env[] = {"KAFKA_BROKERS=", NULL};
    struct pw_config cfg;
    struct pw_errbuf err;
    cr_assert_eq(parse(&cfg, env, NULL, &err), PW_E_USAGE);
    cr_assert_str_eq(err.msg, "KAFKA_BROKERS is set but empty: unset it to use the embedded "
                              "broker, or give a value");
    const char *db[] = {"DATABASE_URL=", NULL};
    cr_assert_eq(parse(&cfg, db, NULL, &err), PW_E_USAGE);
    cr_assert(strstr(err.msg, "DATABASE_URL is set but empty"), "%s", err.msg);
    const char *unset[] = {NULL};
    cr_assert_eq(parse(&cfg, unset, NULL, &err), PW_OK, "unset is the embedded default");
    cr_assert_null(cfg.brokers);
}

Test(config, replay_takes_exactly_one_starting_point)
{
    struct pw_config cfg;
    const char *a1[] = {"replay", "--from-beginning", NULL};
    cr_assert_eq(parse(&cfg, NULL, a1, NULL), PW_OK);
    cr_assert_eq(cfg.replay_from, PW_START_BEGINNING);
    const char *a2[] = {"replay", "--from-offset", "42", NULL};
    cr_assert_eq(parse(&cfg, NULL, a2, NULL), PW_OK);
    cr_assert_eq(cfg.replay_offset, 42);
    const char *a3[] = {"replay", "--from-time=2026-11-20T10:00:00Z", NULL};
    cr_assert_eq(parse(&cfg, NULL, a3, NULL), PW_OK);
    cr_assert_eq(cfg.replay_from, PW_START_TIME);
    cr_assert_eq(cfg.replay_time, (pw_time)1795168800 * 1000000);
}

Test(config, redrive_takes_filters_a_start_and_a_dry_run)
{
    struct pw_config cfg;
    struct pw_errbuf err;
    const char *args[] = {"redrive", "--kind", "failed", "--kind=unsupported", "--code",
                          "apply_failed", "--from-offset", "7", "--dry-run", NULL};
    cr_assert_eq(parse(&cfg, NULL, args, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(cfg.mode, PW_MODE_REDRIVE);
    cr_assert_eq(cfg.nkinds, 2);
    cr_assert_str_eq(cfg.kinds[1], "unsupported");
    cr_assert_eq(cfg.ncodes, 1);
    cr_assert_str_eq(cfg.codes[0], "apply_failed");
    cr_assert_eq(cfg.replay_from, PW_START_OFFSET);
    cr_assert_eq(cfg.replay_offset, 7);
    cr_assert(cfg.dry_run);
    const char *plain[] = {"redrive", NULL};
    cr_assert_eq(parse(&cfg, NULL, plain, &err), PW_OK, "no start: the topic's start");
    cr_assert_eq(cfg.replay_from, PW_START_GROUP);
    const char *env[] = {"POSTWORKER_MAX_ATTEMPTS=5", NULL};
    cr_assert_eq(parse(&cfg, env, NULL, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(cfg.max_attempts, 5);
}

Test(config, a_kafka_config_file_comes_before_the_flags)
{
    char path[] = "/tmp/pw-test-kafka-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char text[] = "# comment\n\nclient.id=from-file\n  sasl.password = s3cret\r\n"
                        "linger.ms=5\n";
    cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    const char *args[] = {"-F", path, "-X", "linger.ms=9", NULL};
    struct pw_config cfg;
    struct pw_errbuf err;
    cr_assert_eq(parse(&cfg, NULL, args, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(cfg.nall_props, 4);
    cr_assert_str_eq(cfg.all_props[0], "client.id=from-file");
    cr_assert_str_eq(cfg.all_props[1], "sasl.password = s3cret");
    cr_assert_str_eq(cfg.all_props[2], "linger.ms=5");
    cr_assert_str_eq(cfg.all_props[3], "linger.ms=9", "-X comes last, so it wins");
    pw_config_release(&cfg);
    /* A line that is not key=value: the file and line, never the line itself. */
    FILE *f = fopen(path, "w");
    fputs("client.id=x\nsasl.password s3cret\n", f);
    fclose(f);
    cr_assert_eq(parse(&cfg, NULL, args, &err), PW_E_USAGE);
    char want[128];
    snprintf(want, sizeof want, "-F %s:2: not key=value", path);
    cr_assert_str_eq(err.msg, want);
    pw_config_release(&cfg);
    f = fopen(path, "w"); /* empty: no properties, not an error */
    fclose(f);
    cr_assert_eq(parse(&cfg, NULL, args, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(cfg.nall_props, 1);
    pw_config_release(&cfg);
    unlink(path);
    cr_assert_eq(parse(&cfg, NULL, args, &err), PW_E_USAGE);
    snprintf(want, sizeof want, "-F %s: No such file or directory", path);
    cr_assert_str_eq(err.msg, want);
    pw_config_release(&cfg);
}

Test(config, bad_usage_is_one_line_naming_the_problem)
{
    static const struct {
        const char *env[3];
        const char *args[5];
        const char *msg;
    } cases[] = {
        {{NULL}, {"--bogus", NULL}, "unknown option '--bogus': see --help"},
        {{NULL}, {"launch", NULL},
         "unknown command 'launch': use run, migrate, replay, redrive, parked, release or serve"},
        {{NULL}, {"run", "extra", NULL}, "unexpected argument 'extra': see --help"},
        {{NULL}, {"--group", NULL}, "--group needs a value"},
        {{NULL}, {"--group=", NULL}, "--group is empty: give a value or unset it"},
        {{NULL}, {"--events-topic", "bad topic", NULL},
         "--events-topic 'bad topic' is not a topic name: use 1 to 249 of a-z A-Z 0-9 . _ -"},
        {{"POSTWORKER_BATCH_SIZE=lots", NULL}, {NULL},
         "POSTWORKER_BATCH_SIZE 'lots' must be a whole number from 1 to 10000"},
        {{NULL}, {"--batch-size", "0", NULL},
         "--batch-size '0' must be a whole number from 1 to 10000"},
        {{NULL}, {"--batch-wait-ms", "-1", NULL},
         "--batch-wait-ms '-1' must be milliseconds from 0 to 60000"},
        {{NULL}, {"-X", "novalue", NULL}, "-X takes key=value, and 'novalue...' has no '='"},
        {{NULL}, {"-X", "sasl.password s3cret", NULL},
         "-X takes key=value, and 'sasl.password...' has no '='"},
        {{NULL}, {"-X", "=s3cret", NULL}, "-X takes key=value, and the key is empty"},
        {{NULL}, {"--databse=postgresql://u:s3cret@h/db", NULL},
         "unknown option '--databse': see --help"},
        {{NULL}, {"replay", NULL},
         "replay needs --from-beginning, --from-offset N or --from-time RFC3339"},
        {{NULL}, {"replay", "--from-offset", "-5", NULL},
         "--from-offset '-5' must be an offset of 0 or more"},
        {{NULL}, {"replay", "--from-time", "noon", NULL},
         "--from-time 'noon' is not RFC 3339, e.g. 2026-11-20T10:00:00Z"},
        {{NULL}, {"replay", "--from-beginning", "--from-offset=1", NULL},
         "give one starting point, not two"},
        {{NULL}, {"--from-beginning", NULL}, "--from-* options go with replay or redrive only"},
        {{NULL}, {"redrive", "--kind", "faild", NULL},
         "--kind 'faild' is not a dead-letter kind: use malformed, unsupported, rejected or failed"},
        {{NULL}, {"redrive", "--code", "transient", NULL},
         "--code 'transient' is not a dead-letter code: see dlq.error.code in the README"},
        {{NULL}, {"run", "--dry-run", NULL}, "--dry-run goes with redrive or release only"},
        {{NULL}, {"run", "--code", "apply_failed", NULL}, "--kind and --code go with redrive only"},
        {{"DATABASE_URL=postgresql:///x", NULL}, {"release", NULL}, "release needs --post-id P"},
        {{"DATABASE_URL=postgresql:///x", NULL}, {"--post-id", "p", NULL},
         "--post-id goes with release only"},
        {{"DATABASE_URL=postgresql:///x", NULL}, {"release", "--post-id", "a b", NULL},
         "--post-id 'a b' is not a post id: 1 to 64 of A-Z a-z 0-9 . _ -"},
        {{NULL}, {"parked", NULL},
         "parked needs the database the workers use: set DATABASE_URL or --database (the "
         "in-memory store lives inside its worker: see its GET /parked)"},
        {{NULL}, {"release", "--post-id", "p", NULL},
         "release needs the database the workers use: set DATABASE_URL or --database (the "
         "in-memory store lives inside its worker: see its GET /parked)"},
        {{NULL}, {"--log-format", "xml", NULL}, "--log-format 'xml' must be one of text|json"},
        {{"POSTWORKER_LOG_LEVEL=loud", NULL}, {NULL},
         "POSTWORKER_LOG_LEVEL 'loud' must be one of debug|info|warn|error"},
        {{NULL}, {"--log-level", "", NULL}, "--log-level '' must be one of debug|info|warn|error"},
        {{NULL}, {"--max-attempts", "1", NULL},
         "--max-attempts '1' must be a whole number from 2 to 1000"},
        {{NULL}, {"--durability", "fast", NULL},
         "--durability 'fast' must be one of strict|relaxed"},
        {{NULL}, {"--inbox-retention", "7", NULL},
         "--inbox-retention '7' must be a time such as 90s, 30m, 12h or 8d, or forever"},
        {{"POSTWORKER_INBOX_RETENTION=0d", NULL}, {NULL},
         "POSTWORKER_INBOX_RETENTION '0d' must be a time such as 90s, 30m, 12h or 8d, or forever"},
        {{NULL}, {"--inbox-retention", "36501d", NULL},
         "--inbox-retention '36501d' must be a time such as 90s, 30m, 12h or 8d, or forever"},
        {{NULL}, {"--inbox-retention", "-5h", NULL},
         "--inbox-retention '-5h' must be a time such as 90s, 30m, 12h or 8d, or forever"},
        {{NULL}, {"--inbox-retention", "99999999999999999999s", NULL},
         "--inbox-retention '99999999999999999999s' must be a time such as 90s, 30m, 12h or 8d, "
         "or forever"},
        {{"POSTWORKER_MAX_ATTEMPTS=many", NULL}, {NULL},
         "POSTWORKER_MAX_ATTEMPTS 'many' must be a whole number from 2 to 1000"},
        {{NULL}, {"--log-format", "text|json", NULL},
         "--log-format 'text|json' must be one of text|json"},
        {{NULL}, {"migrate", NULL}, "migrate needs a database: set DATABASE_URL or --database"},
        {{NULL}, {"serve", "--http", ":0", NULL},
         "serve needs a database (DATABASE_URL or --database) and --http HOST:PORT to answer on"},
        {{"DATABASE_URL=postgresql:///x", NULL}, {"serve", NULL},
         "serve needs a database (DATABASE_URL or --database) and --http HOST:PORT to answer on"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pw_config cfg;
        struct pw_errbuf err;
        cr_assert_eq(parse(&cfg, cases[i].env, cases[i].args, &err), PW_E_USAGE, "case %zu", i);
        cr_assert_str_eq(err.msg, cases[i].msg, "case %zu", i);
    }
}

Test(config, durability_and_inbox_retention_take_their_values)
{
    static const struct {
        const char *arg;
        int64_t ms;
    } times[] = {{"250ms", 250}, {"90s", 90000}, {"30m", 1800000}, {"12h", 43200000},
                 {"8d", 691200000}, {"36500d", 36500LL * 86400000}, {"forever", -1}};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        const char *args[] = {"--inbox-retention", times[i].arg, "--durability", "relaxed", NULL};
        struct pw_config cfg;
        struct pw_errbuf err;
        cr_assert_eq(parse(&cfg, NULL, args, &err), PW_OK, "%s", err.msg);
        cr_assert_eq(cfg.inbox_retention_ms, times[i].ms, "%s", times[i].arg);
        cr_assert_str_eq(cfg.durability, "relaxed");
    }
    const char *env[] = {"POSTWORKER_INBOX_RETENTION=2h", "POSTWORKER_DURABILITY=relaxed", NULL};
    struct pw_config cfg;
    cr_assert_eq(parse(&cfg, env, NULL, NULL), PW_OK);
    cr_assert_eq(cfg.inbox_retention_ms, 7200000);
    cr_assert_str_eq(cfg.durability, "relaxed");
}

Test(config, help_is_recognised_anywhere)
{
    struct pw_config cfg;
    const char *args[] = {"replay", "--help", NULL};
    cr_assert_eq(parse(&cfg, NULL, args, NULL), PW_OK);
    cr_assert(cfg.help);
}

Test(config, parked_and_release_take_the_database_and_a_post)
{
    struct pw_config cfg;
    struct pw_errbuf err;
    const char *env[] = {"DATABASE_URL=postgresql:///x", NULL};
    const char *parked[] = {"parked", NULL};
    cr_assert_eq(parse(&cfg, env, parked, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(cfg.mode, PW_MODE_PARKED);
    const char *release[] = {"release", "--post-id=hello-world", "--dry-run", NULL};
    cr_assert_eq(parse(&cfg, env, release, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(cfg.mode, PW_MODE_RELEASE);
    cr_assert_str_eq(cfg.post_id, "hello-world");
    cr_assert(cfg.dry_run);
}

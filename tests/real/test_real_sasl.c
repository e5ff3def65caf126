/*
 * SASL/SCRAM on the real broker (tools/with-kafka --sasl): the worker and
 * postctl connect with a username and password given through -X, and the
 * password appears in none of their output, a refused login included.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/real/real_world.h"

/* True if file holds needle. */
static bool file_has(const char *path, const char *needle)
{
    struct rworker fake = {0};
    snprintf(fake.log, sizeof fake.log, "%s", path);
    return rworker_logged(&fake, needle);
}

/* Runs postctl create over SASL with password; its output in out; returns its exit status. */
static int postctl_create(struct rworld *w, const char *brokers, const char *password,
                          const char *post_id, const char *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "KAFKA_BROKERS='%s' build/postctl --commands-topic %s "
             "-X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=SCRAM-SHA-256 "
             "-X sasl.username=%s -X sasl.password=%s -X message.timeout.ms=8000 "
             "create --post-id %s --author A --title T --body b >%s 2>&1",
             brokers, w->commands, getenv("PW_KAFKA_SASL_USER"), password, post_id, out);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(realsasl, the_worker_and_postctl_log_in_with_scram_and_never_show_the_password,
     .timeout = 120)
{
    const char *sasl = getenv("PW_KAFKA_SASL_BROKERS");
    const char *user = getenv("PW_KAFKA_SASL_USER"), *password = getenv("PW_KAFKA_SASL_PASSWORD");
    if (!sasl || !user || !password)
        cr_assert_fail("needs a SASL listener: tools/with-kafka --sasl (make kafka-real does)");
    struct rworld w;
    rworld_open(&w, 2, NULL);
    struct rworld over_sasl = w;
    over_sasl.brokers = sasl;
    char xu[256], xp[256];
    snprintf(xu, sizeof xu, "sasl.username=%s", user);
    snprintf(xp, sizeof xp, "sasl.password=%s", password);
    /* The worker takes its login from a file (-F), so the secret is on no command line. */
    char conf[128];
    snprintf(conf, sizeof conf, "build/real-sasl-%d.conf", (int)getpid());
    FILE *f = fopen(conf, "w");
    cr_assert(f);
    fprintf(f, "# SASL/SCRAM for the test\nsecurity.protocol=SASL_PLAINTEXT\n\n"
               "sasl.mechanisms=SCRAM-SHA-256\n%s\n  %s\n", xu, xp);
    fclose(f);
    struct rworker p = {0};
    rworker_start(&over_sasl, &p, (const char *const[]){"-F", conf, NULL});
    char out[128], bad_out[128];
    snprintf(out, sizeof out, "build/real-sasl-%d.out", (int)getpid());
    snprintf(bad_out, sizeof bad_out, "build/real-sasl-%d.bad", (int)getpid());
    cr_assert_eq(postctl_create(&w, sasl, password, "scram-post", out), 0,
                 "postctl logs in and posts");
    struct kmsg *evs;
    size_t n = rworld_read(&w, w.events, 1, 60000, &evs);
    cr_assert_eq(n, 1, "the worker, logged in the same way, applied it");
    kmsgs_free(evs, n);
    cr_assert_neq(postctl_create(&w, sasl, "wrong-password-x9", "nope", bad_out), 0,
                  "a wrong password is refused");
    cr_assert_eq(rworker_stop(&p), 0);
    cr_assert_not(file_has(p.log, password), "the worker never shows the password");
    cr_assert_not(file_has(out, password), "nor does postctl");
    cr_assert_not(file_has(bad_out, "wrong-password-x9"), "nor a wrong one it was given");
    unlink(out);
    unlink(bad_out);
    unlink(conf);
    rworld_close(&w);
}

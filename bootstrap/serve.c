/*
 * postworker serve. It opens no consumer and runs no migration (a standby
 * could not): it answers from what the database holds, and says on /readyz
 * whether the database answers, asking it every PW_SERVE_PROBE_MS.
 */
#include "bootstrap/serve.h"

#include <time.h>

#include "adapters/http/http.h"
#include "adapters/pg/pg.h"
#include "bootstrap/log.h"

#define PW_SERVE_PROBE_MS 2000

int pw_serve(const struct pw_config *cfg, struct pw_metrics *m, volatile sig_atomic_t *stop)
{
    struct pw_errbuf err;
    struct pw_pg_store *pg = NULL;
    struct pw_http *http = NULL;
    struct pw_query q = {0};
    enum pw_err rc = pw_pg_store_new(&pg, cfg->database, NULL, &err);
    if (!rc)
        rc = pw_http_start(&http, cfg->http, m, pw_log_line, &err);
    if (!rc && pw_pg_query_open(&q, pg))
        rc = pw_err_set(&err, PW_E_NOMEM, "out of memory opening the read side");
    if (rc) {
        pw_log("error", "%s", err.msg);
        pw_http_stop(http);
        pw_pg_store_free(pg);
        return rc == PW_E_USAGE ? 2 : 1;
    }
    pw_http_serve_query(http, &q, true);
    pw_log("info", "serving the read API at http://%s/ (port %d): /posts, /commands, /parked",
           cfg->http, pw_http_port(http));
    int64_t probed = 0;
    int up = -1;
    while (!*stop) {
        int64_t now = pw_metrics_mono_ms();
        atomic_store(&m->heartbeat_ms, now);
        if (now - probed >= PW_SERVE_PROBE_MS) {
            probed = now;
            struct pw_post post;
            bool found;
            bool ok = pw_query_post_get(&q, "-", &post, &found, &err) == PW_OK;
            if (ok && found)
                pw_post_release(&post);
            atomic_store(&m->dependency_up[PW_M_STORE], ok);
            if (ok != up)
                pw_log(ok ? "info" : "warn", ok ? "the database answers" : "the database does not "
                       "answer (asking again every %d s): %s", PW_SERVE_PROBE_MS / 1000, err.msg);
            up = ok;
        }
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    pw_log("info", "stopped serving");
    pw_http_stop(http);
    pw_query_close(&q);
    pw_pg_store_free(pg);
    return 0;
}

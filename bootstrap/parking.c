/*
 * The operator's view of parked posts. A failed command's source and id
 * came from a message: they are escaped before they are shown.
 */
#include "bootstrap/parking.h"

#include "domain/text.h"
#include "ports/metrics.h"

/* How long ago ms was (wall clock, milliseconds), for people: "42s", "3m05s", "2h10m". */
static const char *age(int64_t ms, char buf[32])
{
    int64_t s = ms > 0 ? (pw_metrics_now_ms() - ms) / 1000 : 0;
    if (s < 60)
        snprintf(buf, 32, "%llds", (long long)(s < 0 ? 0 : s));
    else if (s < 3600)
        snprintf(buf, 32, "%lldm%02llds", (long long)s / 60, (long long)s % 60);
    else
        snprintf(buf, 32, "%lldh%02lldm", (long long)s / 3600, (long long)s / 60 % 60);
    return buf;
}

/* What p waits on, for people. */
static void describe(const struct pw_parked *p, char *buf, size_t size)
{
    char source[2 * PW_CMD_SOURCE_BYTES + 1], id[2 * PW_CMD_ID_BYTES + 1];
    if (p->id[0])
        snprintf(buf, size, "command '%s' from '%s' (%s, '%s' partition %d offset %lld)",
                 pw_text_escape(p->id, id, sizeof id),
                 pw_text_escape(p->source, source, sizeof source), pw_err_name(p->code),
                 p->topic, (int)p->partition, (long long)p->offset);
    else
        snprintf(buf, size, "the message at '%s' partition %d offset %lld (%s, never decoded)",
                 p->topic, (int)p->partition, (long long)p->offset, pw_err_name(p->code));
}

enum pw_err pw_parked_print(struct pw_store *st, FILE *out, struct pw_errbuf *err)
{
    static struct pw_parked page[100];
    char after[PW_POST_ID_MAX + 1] = "";
    size_t total = 0, n = 0;
    enum pw_err rc;
    while ((rc = pw_store_parked_list(st, after, page, 100, &n, err)) == PW_OK && n) {
        for (size_t i = 0; i < n; i++) {
            char what[3 * PW_CMD_SOURCE_BYTES], since[32], oldest[32];
            describe(&page[i], what, sizeof what);
            fprintf(out, "%s: %s %s ago behind %s; %lld held%s%s\n", page[i].post_id,
                    page[i].draining ? "draining, parked" : "parked",
                    age(page[i].parked_ms, since), what, (long long)page[i].held,
                    page[i].held ? ", the oldest for " : "",
                    page[i].held ? age(page[i].oldest_ms, oldest) : "");
        }
        total += n;
        snprintf(after, sizeof after, "%s", page[n - 1].post_id);
    }
    if (!rc)
        fprintf(out, "%zu parked post%s\n", total, total == 1 ? "" : "s");
    return rc;
}

enum pw_err pw_release_print(struct pw_store *st, const char *post_id, bool dry_run, FILE *out,
                             bool *found, struct pw_errbuf *err)
{
    struct pw_parked p;
    enum pw_err rc = pw_store_release(st, post_id, dry_run, &p, found, err);
    if (rc || !*found)
        return rc;
    char what[3 * PW_CMD_SOURCE_BYTES];
    describe(&p, what, sizeof what);
    fprintf(out, "%s '%s': %s %s; %lld held command%s %s\n",
            dry_run ? "would release" : "released", post_id,
            dry_run ? "would give up on" : "gave up on", what, (long long)p.held,
            p.held == 1 ? "" : "s",
            dry_run ? "would run next" : "run next, in order, by a running worker");
    return PW_OK;
}

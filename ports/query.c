#include "ports/query.h"

#include <string.h>

const char *pw_cmd_state_name(enum pw_cmd_state s)
{
    static const char *const names[] = {"unknown", "applied", "duplicate",
                                        "rejected", "failed", "held"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

void pw_command_status_mark(struct pw_command_status *st, enum pw_err code)
{
    st->code = code;
    st->outcome = code == PW_OK                          ? PW_Q_APPLIED
                  : pw_err_kind(code) == PW_KIND_FAILED ? PW_Q_FAILED
                                                         : PW_Q_REJECTED;
}

enum pw_err pw_query_command_get(struct pw_query *q, const char *source, const char *id,
                                 const char *post_id, struct pw_command_status *st,
                                 struct pw_errbuf *err)
{
    enum pw_err rc = PW_PORT_CHECK(err, q->ops->command_get(q->self, source, id, st, err));
    if (!rc && post_id && post_id[0] && st->post_id[0] && strcmp(post_id, st->post_id) != 0) {
        st->outcome = PW_Q_DUPLICATE; /* with the post it was processed for */
        st->code = PW_OK;
        st->version = 0;
    }
    return rc;
}

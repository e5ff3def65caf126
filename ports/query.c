#include "ports/query.h"

const char *pw_cmd_state_name(enum pw_cmd_state s)
{
    static const char *const names[] = {"unknown", "applied", "duplicate",
                                        "rejected", "failed", "held"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

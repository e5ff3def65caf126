#include "domain/trace.h"

#include <string.h>

static bool hex_run(const char *s, size_t n, bool *all_zero)
{
    *all_zero = true;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
        *all_zero &= s[i] == '0';
    }
    return true;
}

bool pw_trace_parent_ok(const char *s, size_t len)
{
    bool zero_trace, zero_parent, zero_flags;
    return len == PW_TRACEPARENT_LEN && memcmp(s, "00-", 3) == 0 && s[35] == '-' && s[52] == '-' &&
           hex_run(s + 3, 32, &zero_trace) && !zero_trace && hex_run(s + 36, 16, &zero_parent) &&
           !zero_parent && hex_run(s + 53, 2, &zero_flags);
}

bool pw_trace_state_ok(const char *s, size_t len)
{
    if (len < 1 || len > PW_TRACESTATE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

void pw_trace_child(const char *parent, const char *event_id, char out[PW_TRACEPARENT_LEN + 1])
{
    memcpy(out, parent, PW_TRACEPARENT_LEN + 1);
    size_t k = 36;
    bool zero = true;
    for (const char *p = event_id; *p && k < 52; p++)
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')) {
            out[k++] = *p;
            zero &= *p == '0';
        }
    while (k < 52)
        out[k++] = '0';
    if (zero) /* an all-zero span id is invalid */
        out[51] = '1';
}

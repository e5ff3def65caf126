/* The call counter that every fault wrapper goes through. */
#include "adapters/fault/fault.h"

bool pw_fault_hit_at(struct pw_fault *plan, const char *op, const char *id,
                     struct pw_errbuf *err, enum pw_err *rc)
{
    if (plan->dead) {
        *rc = pw_err_set(err, PW_E_FATAL, "injected: the process is dead");
        return true;
    }
    if (plan->hook && (*rc = plan->hook(plan->hook_ctx, plan, op, id, err)) != PW_OK) {
        plan->failures++;
        return true;
    }
    if (plan->after_commit && !plan->commits)
        return false;
    plan->calls++;
    if (!plan->nth || plan->calls < plan->nth || (plan->calls > plan->nth && !plan->from_then_on))
        return false;
    plan->failures++;
    enum pw_err code = plan->code ? plan->code : PW_E_TRANSIENT;
    *rc = pw_err_set(err, code, "injected fault on call %u", plan->calls);
    return true;
}

/* The store contract against the in-memory adapter. */
#include "tests/store_contract.h"

#include "adapters/inmem/inmem.h"

static void inmem_open(struct store *s)
{
    struct pw_inmem_store *store = pw_inmem_store_new();
    cr_assert(store);
    cr_assert_eq(pw_inmem_uow_open(&s->uow, store), PW_OK);
    cr_assert_eq(pw_inmem_uow_open(&s->uow2, store), PW_OK);
    cr_assert_eq(pw_inmem_outbox_open(&s->outbox, store), PW_OK);
    cr_assert_eq(pw_inmem_outbox_open(&s->outbox2, store), PW_OK);
    s->priv = store;
}

static void inmem_close(struct store *s)
{
    pw_outbox_close(&s->outbox2);
    pw_outbox_close(&s->outbox);
    pw_uow_close(&s->uow2);
    pw_uow_close(&s->uow);
    pw_inmem_store_free(s->priv);
}

static const struct store_adapter inmem_adapter = {.open = inmem_open, .close = inmem_close};

#define STORE_SUITE_NAME store_inmem
#define STORE_ADAPTER inmem_adapter
STORE_CONTRACT_SUITE()

/* The store contract against PostgreSQL, plus what only a database has. */
#include "tests/store_contract.h"

#include <stdlib.h>

#include "adapters/pg/pg.h"
#include "tests/helpers.h"
#include "tests/pg_world.h"

#define STORE_SUITE_NAME store_pg
#define STORE_ADAPTER store_pg_adapter
STORE_CONTRACT_SUITE()

#undef STORE_SUITE_NAME
#undef STORE_ADAPTER

Test(pg, migrations_applied_twice_are_a_no_op)
{
    struct pg_schema schema;
    pg_schema_open(&schema);
    int applied = 7;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_migrate(schema.store, &applied, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(applied, 0);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT count(*) FROM schema_migrations"), 2,
                 "both migrations recorded once");
    pg_schema_close(&schema);
}

Test(pg, a_bad_database_url_is_usage_and_never_shows_the_password)
{
    struct pw_pg_store *store = NULL;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_store_new(&store, "postgresql://u:s3cret@host:notaport/db?x", NULL, &err),
                 PW_E_USAGE);
    cr_assert_null(strstr(err.msg, "s3cret"), "%s", err.msg);
    cr_assert_eq(pw_pg_store_new(&store, "host=h password=s3cret bogus", NULL, &err), PW_E_USAGE);
    cr_assert_null(strstr(err.msg, "s3cret"), "%s", err.msg);
}

Test(pg, a_database_that_is_down_is_a_transient_error)
{
    struct pw_pg_store *store = NULL;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_store_new(&store, "postgresql:///x?host=/nonexistent&connect_timeout=1",
                                 NULL, &err), PW_OK);
    struct pw_uow uow;
    cr_assert_eq(pw_pg_uow_open(&uow, store), PW_OK);
    cr_assert_eq(pw_uow_begin(&uow, &err), PW_E_TRANSIENT);
    cr_assert_eq(pw_pg_migrate(store, NULL, &err), PW_E_TRANSIENT);
    pw_uow_close(&uow);
    pw_pg_store_free(store);
}

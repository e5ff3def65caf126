/* The read API on PostgreSQL (tests/http_cases.c). */
#include "tests/http_contract.h"
#include "tests/helpers.h"
#include "tests/pg_world.h"

#define HTTP_SUITE_NAME http_pg
#define HTTP_ADAPTER store_pg_adapter
HTTP_CONTRACT_SUITE()

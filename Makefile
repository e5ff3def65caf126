# postworker. `make` builds the programs; `make test` every test under
# AddressSanitizer and UndefinedBehaviorSanitizer; `make run` the worker on
# the embedded default; `make bench` the benchmark. `make deps` installs the
# Debian packages that are missing, and the targets that need them call it.

CC ?= cc
CFLAGS ?= -O2 -g
# The libraries' flags come from pkg-config (before make deps has run, the
# Debian defaults); CPPFLAGS and LDFLAGS from the environment are honoured.
PC_PKGS := rdkafka jansson libpq uuid libmicrohttpd libsystemd libcurl
PC_CFLAGS := $(shell pkg-config --cflags $(PC_PKGS) 2>/dev/null || echo -I/usr/include/postgresql)
PC_LIBS := $(shell pkg-config --libs $(PC_PKGS) 2>/dev/null || \
	echo -lrdkafka -ljansson -lpq -luuid -lmicrohttpd -lsystemd -lcurl)
PW_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -I. $(PC_CFLAGS) $(CPPFLAGS) -MMD -MP $(CFLAGS)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LIBS := $(LDFLAGS) -Wl,--as-needed $(PC_LIBS) -lpthread

MAINS := bootstrap/main_postworker.c bootstrap/main_postctl.c
LIB_SRC := $(wildcard domain/*.c ports/*.c handlers/*.c adapters/*/*.c) \
	$(filter-out $(MAINS),$(wildcard bootstrap/*.c)) build/gen/adapters/pg/migrations_sql.c
# Unit tests are fast and need no server; the Kafka tests start librdkafka's
# mock cluster in-process and run the worker in a thread.
WORLDS := tests/kafka_world.c tests/pg_world.c tests/helpers.c
KAFKA_TEST_SRC := $(wildcard tests/test_kafka*.c) tests/bus_cases.c $(WORLDS)
PG_TEST_SRC := $(wildcard tests/test_pg*.c tests/store_cases*.c) tests/http_cases.c \
	$(wildcard tests/dispatch_cases*.c) tests/proc.c $(WORLDS)
UNIT_TEST_SRC := $(filter-out $(wildcard tests/test_kafka*.c tests/test_pg*.c) $(WORLDS),\
	$(wildcard tests/*.c)) tests/helpers.c
FUZZ_REPLAY_SRC := tests/fuzz/fuzz_codec.c tests/fuzz/replay.c
# The real binaries against Apache Kafka itself (tools/with-kafka) and PostgreSQL.
REAL_TEST_SRC := $(wildcard tests/real/*.c) tests/kafka_world.c tests/pg_world.c tests/helpers.c
# The simulator: the real core over simulated adapters, in virtual time (tests/sim/sim.h).
SIM_SRC := $(wildcard tests/sim/*.c)
TEST_SRC := $(UNIT_TEST_SRC) $(KAFKA_TEST_SRC) $(PG_TEST_SRC) $(REAL_TEST_SRC) $(FUZZ_REPLAY_SRC) \
	$(SIM_SRC)

OBJ := $(LIB_SRC:%.c=build/obj/%.o)
SAN_OBJ := $(LIB_SRC:%.c=build/san/%.o)
TEST_OBJ := $(TEST_SRC:%.c=build/san/%.o)

.PHONY: install all deps test unit kafka pg e2e kafka-real sim sim-mutants check-layers run bench bench-http soak \
	bench-real allocs fuzz clean

all: build/postworker build/postctl

deps:
	@tools/deps

# The migrations are built into the binary from their numbered SQL files.
build/gen/adapters/pg/migrations_sql.c: $(sort $(wildcard adapters/pg/migrations/*.sql)) tools/embed-sql
	@mkdir -p $(@D)
	tools/embed-sql $(sort $(wildcard adapters/pg/migrations/*.sql)) > $@

build/obj/build/gen/%.o: build/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(PW_CFLAGS) -c $< -o $@

build/san/build/gen/%.o: build/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(PW_CFLAGS) $(SAN_FLAGS) -c $< -o $@

build/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(PW_CFLAGS) -c $< -o $@

build/san/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(PW_CFLAGS) $(SAN_FLAGS) -c $< -o $@

build/libpw.a: $(OBJ)
	$(AR) rcs $@ $^

build/libpw-san.a: $(SAN_OBJ)
	$(AR) rcs $@ $^

build/postworker: build/obj/bootstrap/main_postworker.o build/libpw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build/postctl: build/obj/bootstrap/main_postctl.o build/libpw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# The test build of the worker: PW_TEST_KILL_ID=ID makes the command ID kill it.
build/obj/bootstrap/main_postworker_faults.o: bootstrap/main_postworker.c
	@mkdir -p $(@D)
	$(CC) $(PW_CFLAGS) -DPW_TEST_FAULTS -c $< -o $@

build/postworker-faults: build/obj/bootstrap/main_postworker_faults.o build/libpw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build/bench: build/obj/bench/bench.o build/libpw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build/bench-db-ceiling: build/obj/bench/ceiling_pg.o build/libpw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build/obj/bench/%.o: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(PW_CFLAGS) -c $< -o $@

build/unit-tests: $(UNIT_TEST_SRC:%.c=build/san/%.o) build/libpw-san.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ -lcriterion $(LIBS)

build/kafka-tests: $(KAFKA_TEST_SRC:%.c=build/san/%.o) build/libpw-san.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ -lcriterion $(LIBS)

build/pg-tests: $(sort $(PG_TEST_SRC:%.c=build/san/%.o)) build/libpw-san.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ -lcriterion $(LIBS)

build/sim: $(SIM_SRC:%.c=build/san/%.o) build/libpw-san.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LIBS)

build/real-tests: $(sort $(REAL_TEST_SRC:%.c=build/san/%.o)) build/libpw-san.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ -lcriterion $(LIBS)

# make install [PREFIX=/usr/local] [DESTDIR=...]: the programs, their man
# pages, the systemd unit (its ExecStart in $(BINDIR)) and an example
# environment file.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/postworker
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 755 build/postworker build/postctl $(DESTDIR)$(BINDIR)/
	install -m 644 man/postworker.1 man/postctl.1 $(DESTDIR)$(MANDIR)/man1/
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/postworker.service.in >$(DESTDIR)$(UNITDIR)/postworker.service
	install -m 644 contrib/postworker.env contrib/grafana-dashboard.json $(DESTDIR)$(DOCDIR)/

# The include rules of the hexagon, and files of at most 500 lines, fail the
# build when a file breaks them.
check-layers:
	@tools/check-layers .
	@tools/check-size .

# Criterion forks a process per test; ASan's leak check runs in each.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Every fuzzing input kept in tests/fuzz/corpus, replayed under the sanitizers.
build/fuzz-replay: build/san/tests/fuzz/fuzz_codec.o build/san/tests/fuzz/replay.o build/libpw-san.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LIBS)

unit: check-layers build/unit-tests build/fuzz-replay all
	$(SAN_ENV) build/unit-tests --jobs=4
	$(SAN_ENV) build/fuzz-replay tests/fuzz/corpus/*

kafka: build/kafka-tests
	$(SAN_ENV) build/kafka-tests --jobs=4

# Against DATABASE_URL, or a throwaway server that tools/with-postgres starts.
# The outage test stops the server, so it runs alone, after the others.
pg: build/pg-tests
	$(SAN_ENV) tools/with-postgres sh -c 'build/pg-tests --jobs=4 && \
		PW_PG_OUTAGE=1 build/pg-tests --jobs=1 --filter "pg_outage/*"'

e2e: all build/postworker-faults
	tools/check-docs
	node tools/validate/validate.mjs docs
	tests/e2e/postctl.sh
	tools/with-postgres tests/e2e/observe.sh
	tools/with-postgres --replica tests/e2e/serve.sh
	tests/e2e/install.sh

# On Apache Kafka itself: one node, one node for the broker restart (it would
# stall the others), three nodes, and SASL/SCRAM, each a cluster of its own
# that tools/with-kafka starts and removes.
kafka-real: all build/postworker-faults build/real-tests
	$(SAN_ENV) tools/with-postgres tools/with-kafka build/real-tests --jobs=2 --filter 'real/*'
	$(SAN_ENV) tools/with-postgres tools/with-kafka build/real-tests --jobs=1 --filter 'real_restart/*'
	$(SAN_ENV) tools/with-postgres tools/with-kafka --nodes 3 build/real-tests --filter 'real3/*'
	$(SAN_ENV) tools/with-postgres tools/with-kafka --sasl build/real-tests --filter 'realsasl/*'

# The simulator for SECONDS (60) under the sanitizers, from SIM_FROM: by
# default a seed drawn from the commit, so that each commit explores seeds of
# its own and a run again on it is the same run. A violation prints the seed,
# the command that replays it and its trace. First, the seeds that once
# found a bug (tests/sim/seeds) run again.
SECONDS ?= 60
SIM_FROM ?= 0x$(shell git rev-parse --short=12 HEAD 2>/dev/null || echo 1)
sim: build/sim
	@for seed in $$(grep -v '^#' tests/sim/seeds); do \
		$(SAN_ENV) build/sim --seed $$seed >/dev/null || \
		{ echo "sim: seed $$seed, which once found a bug, fails again:" \
			"build/sim --seed $$seed --trace"; exit 1; }; \
	done
	$(SAN_ENV) build/sim --seconds $(SECONDS) --from $(SIM_FROM)

# Each deliberate bug in tests/sim/mutants must be found (README, Simulator).
sim-mutants: build/sim
	$(SAN_ENV) tools/sim-mutants

test: deps
	@$(MAKE) --no-print-directory unit sim sim-mutants kafka pg e2e kafka-real

run: deps
	@$(MAKE) --no-print-directory all
	build/postworker run --http 127.0.0.1:9464

# The read API under wrk while the worker consumes a paced stream (bench/http-bench).
bench-http: deps
	@$(MAKE) --no-print-directory all build/bench
	tools/with-postgres --durable bench/http-bench

# The benchmark, never part of make test: BENCH_ARGS="-n 100000 --store pg --batch-size 1".
# --store pg runs against DATABASE_URL, or a throwaway server with PostgreSQL's
# durable defaults (fsync and synchronous_commit on).
BENCH_ARGS ?=
bench: deps
	@$(MAKE) --no-print-directory all build/bench build/bench-db-ceiling
	@if [ -n "$(BENCH_ARGS)" ]; then tools/with-postgres --durable build/bench $(BENCH_ARGS); \
	else tools/with-postgres --durable tools/bench-all; fi

# Ten minutes paced on PostgreSQL with a short inbox retention, a line a
# minute, on Apache Kafka (tools/soak says why; never part of make test).
soak: deps
	@$(MAKE) --no-print-directory all build/bench
	tools/with-kafka tools/with-postgres --durable tools/soak

# The same benchmark on a one-node Apache Kafka cluster instead of the embedded broker.
bench-real: deps
	@$(MAKE) --no-print-directory all build/bench build/bench-db-ceiling
	@if [ -n "$(BENCH_ARGS)" ]; then tools/with-kafka tools/with-postgres --durable build/bench $(BENCH_ARGS); \
	else tools/with-kafka tools/with-postgres --durable tools/bench-all; fi

# How long events stop around a join, a SIGTERM and a kill -9, eager against
# cooperative, on Apache Kafka (about 4.5 minutes; docs/benchmark.md).
bench-rebalance: deps
	@$(MAKE) --no-print-directory all
	bench/rebalance-gaps eager cooperative

# The codec under libFuzzer (clang), for FUZZ_SECONDS (60), from the corpus
# kept in tests/fuzz/corpus; new inputs it finds go to build/fuzz-new. An input
# that found a bug goes into the corpus with its fix, so make test replays it.
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard domain/*.c) ports/message.c adapters/kafka/cloudevents.c adapters/kafka/ce_out.c \
	adapters/kafka/json_in.c adapters/kafka/json_out.c
build/fuzz-codec: tests/fuzz/fuzz_codec.c $(FUZZ_SRC)
	@mkdir -p $(@D)
	clang -std=c11 -D_POSIX_C_SOURCE=200809L -I. -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -o $@ $^ -ljansson

fuzz: deps
	@command -v clang >/dev/null || { echo "make fuzz needs clang: apt-get install clang libclang-rt-14-dev"; exit 1; }
	@$(MAKE) --no-print-directory build/fuzz-codec
	@mkdir -p build/fuzz-new
	build/fuzz-codec -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
		build/fuzz-new tests/fuzz/corpus

# Heap allocations per command, counted by bench/countalloc.c under the worker.
build/countalloc.so: bench/countalloc.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

allocs: deps
	@$(MAKE) --no-print-directory all build/bench build/countalloc.so
	tools/allocs

clean:
	rm -rf build

-include $(OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(TEST_OBJ:.o=.d) \
	$(MAINS:%.c=build/obj/%.d) build/obj/bootstrap/main_postworker_faults.d build/obj/bench/bench.d

#!/bin/sh
# The worker as an operator sees it: --http's /healthz, /readyz and /metrics,
# the exposition checked by promtool, a real Prometheus server scraping the
# worker and answering a query, and readiness following the database down
# and up while liveness stays 200. Run under tools/with-postgres.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
cd "$tmp" || exit 1
prom=""
"$PW" --http 127.0.0.1:0 --log-format json >worker.log 2>&1 &
pid=$!
# A failed run keeps its folder (worker.log, prometheus.log) and says where.
trap 'kill -9 $pid $prom 2>/dev/null; if [ "$fail" = 0 ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi' EXIT

port_known() { grep -q 'http: .*(port ' worker.log; }
check "the worker says where it listens" until_ok 30 port_known
port=$(sed -n 's/.*http: .*(port \([0-9]*\)).*/\1/p' worker.log | head -1)
url="http://127.0.0.1:$port"
api_base=$url
api_cap=$tmp/cap
mkdir -p "$api_cap"
status() { api GET "$1" >/dev/null; api_status; }
ready() { test "$(status /readyz)" = 200; }
check "ready once it joined its group and its store answers" until_ok 30 ready
check "live" test "$(status /healthz)" = 200
check "an unknown path is 404" test "$(curl -s -o /dev/null -w "%{http_code}" "$url/nope")" = 404

for i in 1 2 3 4 5; do "$PC" create --post-id "obs-$i" --author A --title T --body b >/dev/null; done
"$PC" delete --post-id ghost >/dev/null
metric() { curl -s "$url/metrics" | grep "^$1 " | awk '{print $2}'; }
applied5() { test "$(metric 'postworker_commands_total{outcome="applied"}')" = 5; }
check "five commands counted applied" until_ok 30 applied5
dead1() { test "$(metric 'postworker_dead_letters_total{kind="rejected",code="not_found"}')" = 1; }
check "the not_found dead letter counted by kind and code" until_ok 30 dead1
published5() { test "$(metric postworker_events_published_total)" = 5; }
check "five events published" until_ok 30 published5
curl -s "$url/metrics" >metrics.txt
check "promtool accepts the exposition" promtool check metrics <metrics.txt
latency5() { curl -s "$url/metrics" | grep -q '^postworker_command_latency_seconds_count 5$'; }
check "the latency histogram saw the five" until_ok 10 latency5
check "build info carries the version" grep -q '^postworker_build_info{version="[0-9.]*"} 1$' metrics.txt
check "JSON logs: RFC 3339 times with milliseconds" grep -Eq '^\{"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z"' worker.log
check "a command's line carries its fields" grep -Eq '"msg":"applied CreatePost [^"]*","partition":[0-9]+,"offset":[0-9]+,"post_id":"obs-1","source":"[^"]+","id":"[^"]+"' worker.log
check "a dead letter's its code" grep -Eq '"msg":"rejected DeletePost[^"]*","partition":[0-9]+,"offset":[0-9]+,"post_id":"ghost".*"code":"not_found"' worker.log
check "the process metrics are there" grep -q '^process_resident_memory_bytes [1-9]' metrics.txt
check "the inbox's pruning is counted" grep -q '^postworker_inbox_pruned_total [0-9]' metrics.txt
check "pending events and dead letters counted apart" sh -c "grep -q '^postworker_outbox_pending_events [0-9]' metrics.txt && grep -q '^postworker_outbox_pending_dead_letters [0-9]' metrics.txt"
rtt() { curl -s "$url/metrics" | grep -q '^postworker_kafka_broker_rtt_seconds{client="consumer",broker="127.0.0.1:[0-9]*/[0-9]*"} [0-9.]*$'; }
check "librdkafka's statistics: each broker's round-trip time" until_ok 30 rtt
check "and the consumer's fetch queue" sh -c "curl -s '$url/metrics' | grep -q '^postworker_kafka_consumer_fetch_queue_messages [0-9]'"
check "open and most file descriptors too" sh -c "grep -q '^process_open_fds [1-9]' metrics.txt && grep -q '^process_max_fds [1-9]' metrics.txt"
lag32() { test "$(curl -s "$url/metrics" | grep -c '^postworker_consumer_lag_messages{group="postworker",topic="post-commands",partition="[0-9]*"} [0-9]')" = 32; }
check "a lag series for each of the 32 partitions, idle ones too, with the group" until_ok 30 lag32
check "and the partitions it owns" sh -c "curl -s '$url/metrics' | grep -q '^postworker_assigned_partitions{topic=\"post-commands\"} 32$'"

# A login the database refuses is configuration (exit 2, one line); an interrupted migrate exits 1.
case "${DATABASE_URL:-}" in *user=postgres*)
    DATABASE_URL=$(echo "$DATABASE_URL" | sed 's/user=postgres/user=nobody/') "$PW" migrate 2>role.err
    check "migrate with a role that does not exist exits 2" test $? = 2
    check "in one line that says so" sh -c "test \$(wc -l <role.err) = 1 && grep -q 'role \"nobody\" does not exist' role.err"
    DATABASE_URL=$(echo "$DATABASE_URL" | sed 's|/postgres?|/nope?|') "$PW" migrate 2>db.err
    check "migrate with a database that does not exist exits 2" test $? = 2
    ;;
esac
DATABASE_URL="postgresql:///x?host=$tmp/no-server" "$PW" migrate 2>/dev/null &
mig=$!
sleep 1
kill -INT $mig
wait $mig
check "migrate interrupted while it waits exits 1" test $? = 1

# A real Prometheus scrapes it, and its query API answers with the counters.
pport=$((20000 + $$ % 20000))
cat >prometheus.yml <<CONF
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: postworker
    static_configs: [{targets: ['127.0.0.1:$port']}]
CONF
prometheus --config.file=prometheus.yml --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$pport" >prometheus.log 2>&1 &
prom=$!
query() {
    curl -s "http://127.0.0.1:$pport/api/v1/query" \
        --data-urlencode 'query=postworker_commands_total{outcome="applied"}' |
        grep -q '"value":\[[0-9.]*,"5"\]'
}
check "Prometheus scraped the worker and its query says 5 applied" until_ok 60 query
# Every query of the Grafana dashboard, as that Prometheus takes it.
sed -n 's/^ *"expr": "\(.*\)",\{0,1\}$/\1/p' "$root/contrib/grafana-dashboard.json" >exprs.txt
check "the dashboard has its queries" test "$(wc -l <exprs.txt)" -ge 10
while IFS= read -r expr; do
    curl -s "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$expr" >answer.json
    check "the dashboard's query runs: $expr" grep -q '"status":"success"' answer.json
done <exprs.txt
kill $prom 2>/dev/null

# A command the database refuses parks its post: GET /parked, the metrics and
# postworker parked say so; a release gives it up and the held command runs.
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
sql "ALTER TABLE posts ADD CONSTRAINT obs_no_evil CHECK (body <> 'evil')"
"$PC" create --post-id obs-park --author A --title T --body b >/dev/null
"$PC" update --post-id obs-park --body evil --id obs-evil >/dev/null
"$PC" update --post-id obs-park --title held --id obs-held >/dev/null
parked1() { api GET /parked | grep -q '"post_id":"obs-park","state":"parked",.*"id":"obs-evil".*"held":1,'; }
check "GET /parked lists the post, the command it waits on and the one held" until_ok 30 parked1
api GET '/commands?source=/postctl&id=obs-held' | grep -q '"outcome":"held"'
check "GET /commands says the command behind it is held" test $? = 0
held1() { test "$(metric postworker_held_commands)" = 1 && test "$(metric postworker_parked_posts)" = 1; }
check "the parking gauges count them" until_ok 10 held1
"$PW" parked >parked.txt 2>&1
check "postworker parked lists it" grep -q "^obs-park: parked .* behind command 'obs-evil' from '/postctl' (apply_failed" parked.txt
"$PW" release --post-id obs-park --dry-run >dry.txt 2>&1
check "release --dry-run says what it would do" grep -q "^would release 'obs-park'" dry.txt
check "and does nothing" parked1
"$PW" release --post-id obs-park >release.txt 2>&1
check "release gives the failed command up" grep -q "^released 'obs-park': gave up on command 'obs-evil'" release.txt
drained() { api GET /parked | grep -q '^{"parked":\[\]}$'; }
check "the worker drains the post within seconds" until_ok 30 drained
check "the held command ran" test "$(sql "SELECT title FROM posts WHERE post_id = 'obs-park'")" = held
api GET '/commands?source=/postctl&id=obs-held' | grep -q '"outcome":"applied"'
check "and is applied now" test $? = 0
"$PW" release --post-id obs-park >/dev/null 2>&1
check "a post not parked is not released: exit 1" test $? = 1
"$PW" release --post-id 'bad id' >/dev/null 2>&1
check "a bad --post-id is usage: exit 2" test $? = 2
sql "ALTER TABLE posts DROP CONSTRAINT obs_no_evil"

# The database goes away: not ready, still live; it comes back: ready again.
if [ -n "${PW_PG_CTL:-}" ]; then
    # Kafka is judged by Kafka's own signals: a database outage says nothing of it.
    (while :; do curl -s "$url/metrics" | grep '^postworker_dependency_up{dependency="kafka"}'; \
        sleep 0.1; done) >kafka_up.txt 2>/dev/null &
    sampler=$!
    sh -c "$PW_PG_CTL stop" >/dev/null 2>&1
    not_ready() { api GET /readyz | grep -q '"store":"down"' && test "$(api_status)" = 503; }
    check "not ready while the database is down" until_ok 30 not_ready
    sleep 3
    check "still live while it waits" test "$(status /healthz)" = 200
    sh -c "$PW_PG_CTL start" >/dev/null 2>&1
    check "ready again once the database is back" until_ok 60 ready
    kill $sampler
    check "Kafka read up all through the database outage" sh -c "grep -q ' 1\$' kafka_up.txt && ! grep -q ' 0\$' kafka_up.txt"
else
    echo "observe: DATABASE_URL given, not a throwaway server: the outage part is skipped"
fi

# The topics as this run left them on PostgreSQL (a parked command's dead letter among them).
validate_captures events dlq commands

kill -TERM $pid
wait $pid
check "SIGTERM exits 0" test $? = 0

# A database down at start: the store is down, and Kafka not known yet (never "down").
mkdir nodb && (cd nodb && exec env DATABASE_URL="postgresql:///x?host=$tmp/no-server" "$PW" \
    --http 127.0.0.1:0 >nodb.log 2>&1) &
nodb=$!
nodb_port() { grep -q 'http: .*(port ' nodb/nodb.log 2>/dev/null; }
until_ok 30 nodb_port
nport=$(sed -n 's/.*http: .*(port \([0-9]*\)).*/\1/p' nodb/nodb.log | head -1)
curl -s "http://127.0.0.1:$nport/readyz" >nodb.json
check "database down at start: Kafka unknown, store down" grep -q '"kafka":"unknown","store":"down"' nodb.json
check "and the reason says so" grep -q '"reason":"the store is down"' nodb.json
kill -INT $nodb
wait $nodb

# A worker stuck on a command (the test build hangs on it): liveness goes to 503.
env -u DATABASE_URL PW_TEST_HANG_ID=hang-here "$root/build/postworker-faults" --http 127.0.0.1:0 \
    --batch-size 1 >stuck.log 2>&1 &
stuck=$!
stuck_port() { grep -q 'http: .*(port ' stuck.log && grep -q 'assigned' stuck.log; }
if until_ok 30 stuck_port; then
    sport=$(sed -n 's/.*http: .*(port \([0-9]*\)).*/\1/p' stuck.log | head -1)
    check "live before it gets stuck" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$sport/healthz")" = 200
    KAFKA_BROKERS=$(sed -n 's/.*embedded Kafka broker at \([^ ]*\).*/\1/p' stuck.log | head -1) \
        "$PC" create --post-id stuck --author A --title T --body b --id hang-here >/dev/null
    stuck503() { test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$sport/healthz")" = 503; }
    check "stuck on one command for 30 s: /healthz says 503" until_ok 50 stuck503
else
    no "the test build of the worker started"
fi
kill -9 $stuck 2>/dev/null
json_line='^\{"time":"[0-9T:.Z-]*","level":"(debug|info|warn|error)","program":"postworker","msg":".*"(,"[a-z_]+":("[^"]*"|[0-9]+))*\}$'
check "--log-format json: every line is one JSON object" sh -c "! grep -Evq '$json_line' worker.log"
check "--log-format json: and there are lines" grep -q '"msg":"stopped: ' worker.log
echo "observe: $pass passed, $fail failed"
(cd "$root" && node tools/validate/validate.mjs http "$api_cap/http.jsonl") >"$api_cap/http.out" 2>&1
check "every probe's and read's answer matches docs/openapi.yaml" test $? = 0
grep -E '^(FAIL|http:)' "$api_cap/http.out" | head
[ "$fail" = 0 ] || { echo "--- worker.log"; tail -30 worker.log; exit 1; }

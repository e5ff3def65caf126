#!/bin/sh
# postctl against a running worker on the embedded broker, as a user runs
# them: the real binaries, in a scratch folder of their own.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
cd "$tmp" || exit 1
"$PW" --http 127.0.0.1:0 >worker.log 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

# Wait (bounded) until the worker has written its broker address.
i=0
while [ ! -s .postworker/brokers ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "worker writes .postworker/brokers" test -s .postworker/brokers
check "and .postworker/http, its read API" test -s .postworker/http
api_base=$(cat .postworker/http)
api_cap=$tmp/cap
mkdir -p "$api_cap"


id=$("$PC" create --post-id hello-world --author Ada --title Hello --body "First post")
check "create prints the command id" sh -c "echo '$id' | grep -Eq '^[0-9a-f-]{36}$'"
quiet() { "$@" >/dev/null; }
check "update is acknowledged" quiet "$PC" update --post-id hello-world --title "Hello again" --expected-version 1 --id u-1
got_v2() { "$PC" get hello-world 2>/dev/null | grep -q '"version": 2'; }
check "get shows version 2 once the worker applied both" until_ok 20 got_v2
check "get shows the new title" sh -c "'$PC' get hello-world | grep -q 'Hello again'"
mkdir -p sub/deeper
check "postctl finds the worker from a folder below it" sh -c "cd sub/deeper && '$PC' get hello-world | grep -q 'Hello again'"
check "update again with the same id is acknowledged" quiet "$PC" update --post-id hello-world --title "Other" --id u-1
"$PC" delete --post-id ghost >/dev/null
dlq_has() { timeout 3 "$PC" tail dlq --from-beginning 2>/dev/null | grep -q '"dlq.error.code":"not_found"'; }
check "a delete of a missing post reaches the dead-letter topic" until_ok 20 dlq_has
check "the duplicate update changed nothing" sh -c "'$PC' get hello-world | grep -q 'Hello again'"
events=$(timeout 3 "$PC" tail events --from-beginning 2>/dev/null | grep -c PostUpdated)
check "one PostUpdated event, not two" test "$events" = 1

"$PC" create --wait --post-id waited --author A --title T --body b >wait.out
check "create --wait exits 0 once applied" test $? = 0
check "and prints the outcome" grep -q "^applied: post 'waited' version 1$" wait.out
"$PC" delete --wait --post-id never-was >wait.out
check "delete --wait exits 1 when rejected" test $? = 1
check "and says why" grep -q '^rejected: not_found ' wait.out
env -u POSTWORKER_API "$PC" --api http://127.0.0.1:1 get waited 2>noapi.err
check "get with no API there exits 1" test $? = 1
check "saying what to do" grep -q 'POSTWORKER_API' noapi.err
"$PC" --api http://127.0.0.1:1 create --wait --post-id no-api --author A --title T --body b \
    >noapi.out 2>noapi.err
check "--wait with no API answering waits on the topics instead" test $? = 0
check "saying so" grep -q 'waiting on the topics instead' noapi.err
check "and prints the outcome" grep -q "^applied: PostCreated 'no-api' version 1" noapi.out
check "get --from-events reads the events topic" sh -c "'$PC' get --from-events waited | grep -q '\"version\": 1'"

# The read API, as the README's quickstart and a reader use it.
body=$(api GET /posts/hello-world)
check "GET /posts/{id}: 200" test "$(api_status)" = 200
check "with the post" sh -c "echo '$body' | grep -q '\"title\":\"Hello again\"'"
api GET /posts/hello-world -H 'If-None-Match: "2"' >/dev/null
check "If-None-Match its ETag: 304" test "$(api_status)" = 304
api HEAD /posts/hello-world >/dev/null
check "HEAD: 200" test "$(api_status)" = 200
api GET /posts/never-was >/dev/null
check "a post that never was: 404" test "$(api_status)" = 404
"$PC" delete --wait --post-id waited >/dev/null
api GET /posts/waited >/dev/null
check "a deleted post: 410" test "$(api_status)" = 410
api GET '/posts?limit=2' >/dev/null
check "a page of posts" test "$(api_status)" = 200
api GET '/posts?deleted=only' | grep -q '"post_id":"waited"'
check "deleted=only has the deleted post" test $? = 0
api GET '/posts?limit=0' >/dev/null
check "limit=0: 400" test "$(api_status)" = 400
api GET '/posts?after=forged' >/dev/null
check "a forged cursor: 400" test "$(api_status)" = 400
api GET '/commands?source=/postctl&id=u-1' | grep -q '"outcome":"applied"'
check "GET /commands says what became of a command" test $? = 0
api GET '/commands?source=/postctl&id=nobody&wait=1' | grep -q '"outcome":"unknown"'
check "and unknown for one never seen, after its wait" test $? = 0
api GET /parked >/dev/null
check "GET /parked: 200" test "$(api_status)" = 200
api DELETE /posts/hello-world >/dev/null
check "DELETE: 405" test "$(api_status)" = 405
for p in /healthz /readyz /metrics; do api GET "$p" >/dev/null; done
check "a path that is not one: a JSON 404" sh -c "curl -s '$api_base/nothing-here' | grep -q '\"error\":\"not_found\"'"
n=$("$PC" list --all --deleted include --limit 1 | wc -l)
check "list --all follows the pages, a post a line" test "$n" -eq 3
ada_only() { "$PC" list --author Ada >ada.out && grep -q hello-world ada.out && ! grep -q waited ada.out; }
check "list --author Ada (the README's): Ada's posts only" ada_only

B=$(cat .postworker/brokers)
ctype() { kcat -b "$B" -t post-commands -C -e -q -f '%h\n' 2>/dev/null | grep -q 'content-type=application/cloudevents+json'; }
check "postctl sends content-type: application/cloudevents+json" until_ok 10 ctype
# The README's kcat lines, as written there.
echo 'hello-kcat|{"specversion":"1.0","id":"c-1","source":"/kcat","type":"CreatePost","time":"2026-11-20T10:00:00Z","data":{"post_id":"hello-kcat","author_name":"Ada","title":"Hi","body":"From kcat"}}' \
  | kcat -b "$B" -t post-commands -P -K'|' -H content-type=application/cloudevents+json
got_kcat() { "$PC" get hello-kcat >/dev/null 2>&1; }
check "a command from the README's kcat line is applied" until_ok 20 got_kcat
ends() { timeout 10 kcat -b "$B" -t post-events -C -e -q -f '%k %h %s\n' >kcat.out 2>&1; }
check "the README's kcat consumer ends by itself, and quietly" ends
check "and shows the events" grep -q '^hello-kcat ' kcat.out

# A burst of 3,000 malformed messages: a few warning lines and a count, not 3,000 lines;
# the last progress line has the burst's total.
before=$(grep -c 'dead letter: ' worker.log)
seq 3000 | sed 's/.*/junk|not json/' | kcat -b "$B" -t post-commands -P -K'|'
summary() { grep -q 'more dead letters and rejections in the last 10 s were not logged' worker.log; }
check "the burst's warnings are summarised with a count" until_ok 30 summary
check "in few lines" test $(($(grep -c 'dead letter: ' worker.log) - before)) -le 40
burst_total() { grep 'progress: ' worker.log | tail -1 | awk '{print $5}' | { read -r n; test "${n:-0}" -ge 3000; }; }
check "the last progress line counts the whole burst" until_ok 15 burst_total

printf '%s\n' '{"specversion":"1.0","id":"f-1","source":"/f","type":"CreatePost","data":{"post_id":"from-file","author_name":"A","title":"T","body":"b"}}' \
    'not json' >cmds.jsonl
"$PC" send cmds.jsonl 2>send.err
check "send exits 1 when a line is bad" test $? = 1
check "send names the bad line" grep -q 'cmds.jsonl:2:' send.err
got_file() { "$PC" get from-file >/dev/null 2>&1; }
check "the good line of the file was still sent" until_ok 20 got_file

# A producer cannot forge a log line or reach the terminal through a command id.
printf '%s\n' '{"specversion":"1.0","id":"x\n2026-01-01T00:00:00Z postworker error: forged \u001b[31m","source":"/f","type":"CreatePost","data":{"post_id":"forge","author_name":"A","title":"T","body":"b"}}' >forge.jsonl
"$PC" send forge.jsonl 2>/dev/null
got_forge() { "$PC" get forge >/dev/null 2>&1; }
check "a command with control characters in its id is applied" until_ok 20 got_forge
check "no forged line starts a log line" sh -c "! grep -q '^2026-01-01T00:00:00Z postworker error: forged' worker.log"
check "no escape byte reaches the log" sh -c "! grep -q \"\$(printf '\\033')\" worker.log"
check "the id is shown escaped" grep -q 'x\\x0a2026-01-01' worker.log

validate_captures events dlq commands

"$PC" frobnicate >/dev/null 2>&1
check "postctl: unknown command exits 2" test $? = 2
"$PW" --bogus 2>usage.err
check "postworker: unknown flag exits 2" test $? = 2
check "postworker: with one line" test "$(wc -l <usage.err)" = 1
DATABASE_URL='postgresql://u:s3cret@localhost:notaport/db' "$PW" 2>dburl.err
check "postworker: a bad DATABASE_URL exits 2" test $? = 2
check "postworker: in one line" test "$(wc -l <dburl.err)" = 1
check "postworker: that does not show the password" sh -c "! grep -q s3cret dburl.err"
"$PW" -X "sasl.password s3cret" 2>x.err
check "postworker: a malformed -X exits 2" test $? = 2
check "postworker: without echoing its value" sh -c "! grep -q s3cret x.err"
"$PC" --database=postgresql://u:hunter2@h/db get x 2>flag.err
check "postctl: a flag it does not take exits 2" test $? = 2
check "postctl: without echoing its value" sh -c "! grep -q hunter2 flag.err"
DATABASE_URL='postgresql://u:s3cr3t@ss@localhost:1/db' "$PW" 2>at.err
check "postworker: an unescaped @ in the password exits 2" test $? = 2
check "postworker: showing no part of it" sh -c "! grep -Eq 's3cr3t|ss@' at.err"
# Flags are checked before anything starts: a database that is not there is never waited for.
DATABASE_URL='postgresql://u@127.0.0.1:1/db' timeout 10 "$PW" -X no.such.prop=1 2>noprop.err
check "postworker: an unknown -X exits 2 before the database is waited for" test $? = 2
check "postworker: in one line naming it" sh -c "test \"\$(wc -l <noprop.err)\" = 1 && grep -q no.such.prop noprop.err"
timeout 10 "$PW" --brokers localhost:notaport 2>port.err
check "postworker: a broker port that is not a number exits 2" test $? = 2
check "postworker: saying so in one line" sh -c "test \"\$(wc -l <port.err)\" = 1 && grep -q 'not a number from 1 to 65535' port.err"
timeout 10 "$PW" --brokers localhost:0 2>port0.err
check "postworker: port 0 exits 2" test $? = 2
env -u DATABASE_URL "$PW" migrate 2>/dev/null
check "postworker migrate without a database exits 2" test $? = 2
KAFKA_BROKERS=127.0.0.1:1 "$PC" -X message.timeout.ms=1500 create --post-id x --author a --title t --body b 2>down.err
check "postctl: an unreachable broker exits 1" test $? = 1
check "postctl: and names the address" grep -q '127.0.0.1:1' down.err

# A second process on the embedded default finds the running broker, or refuses.
"$PW" 2>second.err
check "a second worker on the embedded default exits 2" test $? = 2
check "saying one already runs here" grep -q 'already runs here' second.err
# A replay into a store that holds nothing (the in-memory one) would publish everything again.
nevents() { kcat -b "$B" -t post-events -C -e -q -f '.' 2>/dev/null | wc -c; }
before=$(nevents)
"$PW" replay --from-beginning >refused.log 2>&1
check "a replay into an empty store, live topics by default: exit 2" test $? = 2
# (two greps: a line of librdkafka's may land inside ours; the log is shown if either fails)
check "saying why" grep -q 'the store holds nothing' refused.log || cat refused.log
check "and what to do" grep -q -- '--no-publish' refused.log || cat refused.log
"$PW" replay --from-beginning --no-publish >replay.log 2>&1
check "replay --no-publish on the embedded default reads the running broker" test $? = 0
check "and says so" grep -q "using the running worker's embedded broker" replay.log
check "and publishes nothing" test "$(nevents)" = "$before"
check "the running worker's broker file stays" test -s .postworker/brokers
check "postctl still reaches the worker" quiet "$PC" create --post-id after-replay --author A --title T --body b

# Ctrl-C while the broker cannot be reached at start-up is heard at once (it took 10 s).
KAFKA_BROKERS=127.0.0.1:1 "$PW" 2>/dev/null &
early=$!
sleep 1
kill -INT $early
gone() { ! kill -0 $early 2>/dev/null; }
check "Ctrl-C at start-up with no broker stops it within 3 s" until_ok 3 gone
wait $early
check "with status 0" test $? = 0

kill -TERM $pid
wait $pid
check "SIGTERM stops the worker with status 0" test $? = 0
check "the worker logs its clean stop" grep -q 'stopped:' worker.log
check "the worker removes its broker file" test ! -e .postworker/brokers
check "and says which signal asked" grep -q 'stopped: .*; asked by SIGTERM' worker.log

# SIGHUP (a closed terminal, a supervisor's reload) is a clean stop too, never a silent death.
"$PW" -X session.timeout.ms=6000 -X linger.ms=1 >hup.log 2>&1 &
hup=$!
i=0
while [ ! -s .postworker/brokers ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -HUP $hup
wait $hup
check "SIGHUP stops the worker with status 0" test $? = 0
check "and it says so" grep -q 'stopped: .*; asked by SIGHUP' hup.log
check "and removes its broker file" test ! -e .postworker/brokers
check "a consumer's -X and a producer's -X make no handle warn" sh -c "! grep -q 'will be ignored' hup.log"

# A second signal during the stop ends it at once, and says why.
"$PW" >twice.log 2>&1 &
twice=$!
i=0
while [ ! -s .postworker/brokers ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $twice
kill -INT $twice
wait $twice
check "a second signal during the stop exits 1" test $? = 1
check "saying why" grep -q 'a second signal (SIGINT) during the stop' twice.log
rm -f .postworker/brokers

"$PW" replay --from-beginning 2>alone.err
check "replay with no broker running exits 2" test $? = 2
check "saying what it needs" grep -q 'replay needs the broker' alone.err

[ $fail -eq 0 ] || { echo "--- worker.log"; tail -20 worker.log; }
echo "e2e: $pass passed, $fail failed"
[ $fail -eq 0 ]

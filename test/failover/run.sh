#!/usr/bin/env bash
# Failover test: garde on a pg_auto_failover formation on loopback (a
# monitor, a primary and a secondary with synchronous replication), a load
# generator writing messages through the HTTP API, and the primary stopped
# under load. Afterwards every acknowledged message id must be in the
# database; the report says how long writes were unavailable and what
# errors clients saw.
#
# Needs root (pg_autoctl runs as the postgres user), Go, and Debian's
# postgresql-15-auto-failover:  apt-get install postgresql-15-auto-failover
#
#   test/failover/run.sh                 # 60 s of load, primary stopped at 15 s
#   DURATION=90 STOP=fast test/failover/run.sh
#
# STOP is how the primary goes: "immediate" (pg_autoctl stop --immediate,
# like a crash of the node: keeper and PostgreSQL stop without a
# checkpoint) or "fast" (a clean shutdown). TUNED=0 keeps the monitor's
# default health-check timings (failover then takes 20-40 s; garde retries
# a transaction for at most 30 s, so clients see some 500s).
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK=${WORK:-/tmp/garde-failover}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DURATION=${DURATION:-60}
STOP_AFTER=${STOP_AFTER:-15}
STOP=${STOP:-immediate}
TUNED=${TUNED:-1}
MON=${MON_PORT:-55430}
P1=${NODE1_PORT:-55431}
P2=${NODE2_PORT:-55432}
HTTP=${HTTP_PORT:-18471}
URL="postgres://postgres@127.0.0.1:$P1,127.0.0.1:$P2/garde?target_session_attrs=read-write&sslmode=disable&connect_timeout=2"

as_pg() {
	runuser -u postgres -- env PATH="$PGBIN:$PATH" XDG_CONFIG_HOME="$WORK/xdg/config" XDG_DATA_HOME="$WORK/xdg/data" XDG_RUNTIME_DIR="$WORK/xdg/run" "$@"
}
log() { printf '%s %s\n' "$(date -u +%H:%M:%S.%3N)" "$*"; }

pids=()
cleanup() {
	for d in node1 node2 monitor; do
		[ -d "$WORK/$d" ] && as_pg pg_autoctl stop --pgdata "$WORK/$d" --immediate >/dev/null 2>&1 || true
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# state prints "name:reported:assigned" for each node of the formation.
state() {
	as_pg psql -qAt -F: -h 127.0.0.1 -p "$MON" -d pg_auto_failover \
		-c 'SELECT nodename, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid' 2>/dev/null || true
}
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
	local limit=$1 what=$2
	shift 2
	for _ in $(seq 1 $((limit * 5))); do
		if "$@"; then return 0; fi
		sleep 0.2
	done
	log "timed out waiting for $what"; state; exit 1
}
has_states() { local s; s=$(state); for want in "$@"; do grep -qx "$want" <<<"$s" || return 1; done; }

rm -rf "$WORK"
mkdir -p "$WORK/xdg/config" "$WORK/xdg/data" "$WORK/xdg/run" "$WORK/garde-data"
chmod 0700 "$WORK/xdg/run"
chown -R postgres: "$WORK"
log "building garde and the load generator"
go build -o "$WORK/garde" ./cmd/garde
go build -o "$WORK/loadgen" ./test/failover/loadgen

log "starting the monitor on :$MON"
as_pg pg_autoctl create monitor --pgdata "$WORK/monitor" --pgport "$MON" --hostname 127.0.0.1 --auth trust --no-ssl --run >"$WORK/monitor.log" 2>&1 &
pids+=($!)
wait_for 60 "the monitor" as_pg psql -qAt -h 127.0.0.1 -p "$MON" -d pg_auto_failover -c 'SELECT 1' -o /dev/null 2>/dev/null
if [ "$TUNED" = 1 ]; then
	# Faster detection than the defaults (5 s checks, 20 s before a node is
	# unhealthy), as one would on a LAN with a reliable network, and 5 s
	# instead of 30 s before promoting when the old primary cannot be told
	# to demote (its keeper is down). With synchronous replication an old
	# primary cut off from its standby cannot acknowledge a write, so the
	# shorter wait risks no acknowledged write.
	as_pg psql -qAt -h 127.0.0.1 -p "$MON" -d pg_auto_failover -o /dev/null \
		-c "ALTER SYSTEM SET pgautofailover.health_check_period = 1000" \
		-c "ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000" \
		-c "ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1" \
		-c "ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500" \
		-c "ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000" \
		-c "ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 5000" \
		-c "SELECT pg_reload_conf()"
fi
MONITOR="postgres://autoctl_node@127.0.0.1:$MON/pg_auto_failover?sslmode=disable"

for n in 1 2; do
	port=$P1; [ $n = 2 ] && port=$P2
	log "starting node$n on :$port"
	as_pg pg_autoctl create postgres --pgdata "$WORK/node$n" --pgport "$port" --hostname 127.0.0.1 --name "node$n" \
		--auth trust --no-ssl --dbname garde --monitor "$MONITOR" --run >"$WORK/node$n.log" 2>&1 &
	pids+=($!)
	if [ $n = 1 ]; then
		wait_for 90 "node1 to be the primary" has_states node1:single:single
	else
		# pg_basebackup waits for a checkpoint: make it now, not in minutes.
		sleep 2
		as_pg psql -qAt -h 127.0.0.1 -p "$P1" -d postgres -c CHECKPOINT -o /dev/null || true
		wait_for 180 "node2 to be the secondary" has_states node1:primary:primary node2:secondary:secondary
	fi
done
state | sed 's/^/  /'

log "creating a tenant, starting garde on :$HTTP"
ADMIN=$("$WORK/garde" tenant create "Failover SAS" --db "$URL" --data-dir "$WORK/garde-data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
"$WORK/garde" serve --db "$URL" --data-dir "$WORK/garde-data" --addr "127.0.0.1:$HTTP" --log-level warn >"$WORK/garde.log" 2>&1 &
pids+=($!)
wait_for 30 "garde" curl -fs -o /dev/null "http://127.0.0.1:$HTTP/readyz"

log "writing for ${DURATION}s; the primary stops (${STOP}) after ${STOP_AFTER}s"
"$WORK/loadgen" -url "http://127.0.0.1:$HTTP" -admin "$ADMIN" -register examples/register.yaml -db "$URL" \
	-duration "${DURATION}s" -workers 4 -acks "$WORK/acks.txt" >"$WORK/loadgen.txt" 2>&1 &
load=$!
sleep "$STOP_AFTER"
primary=$(state | awk -F: '$2 == "primary" {print $1}')
log "stopping the primary ($primary)"
t0=$(date +%s.%N)
as_pg pg_autoctl stop --pgdata "$WORK/$primary" "--$STOP"
other=node2; [ "$primary" = node2 ] && other=node1
wait_for 120 "$other to be promoted" has_states "$other:wait_primary:wait_primary"
t1=$(date +%s.%N)
log "$other promoted $(python3 -c "print(round($t1 - $t0, 1))") s after the stop"
state | sed 's/^/  /'
wait "$load" || { cat "$WORK/loadgen.txt"; exit 1; }
log "load generator done"
cat "$WORK/loadgen.txt"
printf 'garde logged %s errors\n' "$(grep -c '"level":"ERROR"' "$WORK/garde.log" || true)"
log "checking every acknowledged id on the new primary"
"$WORK/loadgen" -check -db "$URL" -acks "$WORK/acks.txt" | tail -5

#!/usr/bin/env bash
# Several garde nodes on one PostgreSQL database, under load through the
# HTTP API: 1 node, then 3 nodes (separate `garde serve` processes sharing
# the database and the master key file), the same client concurrency
# spread round-robin over the nodes, all writing to one tenant — the case
# where a forked log or a lost write would show. After each run: every
# acknowledged message id is in the database, and `garde verify ledger`
# checks every tenant's whole log.
#
#   bench/postgres/nodes.sh
#   PGURL=postgres://postgres@127.0.0.1:5432 DURATION=20 WORKERS=12 bench/postgres/nodes.sh
#
# Each run uses a fresh database garde_nodes_<n>_<pid>, dropped at the end
# (KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/../.."

PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DURATION=${DURATION:-20}
WORKERS=${WORKERS:-12}
BASE_PORT=${BASE_PORT:-18490}
WORK=$(mktemp -d /tmp/garde-nodes.XXXXXX)
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

pids=()
dbs=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${KEEP:-0}" != 1 ]; then
		for d in "${dbs[@]}"; do psql -q "$PGURL/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $d" 2>/dev/null || true; done
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

go build -o "$WORK/garde" ./cmd/garde
go build -o "$WORK/loadgen" ./test/failover/loadgen

for nodes in 1 3; do
	db=garde_nodes_${nodes}_$$
	dbs+=("$db")
	psql -q "$PGURL/postgres?sslmode=disable" -c "CREATE DATABASE $db"
	url="$PGURL/$db?sslmode=disable"
	mkdir -p "$WORK/$nodes"
	admin=$("$WORK/garde" tenant create "Nodes SAS" --db "$url" --data-dir "$WORK/$nodes" --json 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
	urls=()
	for i in $(seq 1 "$nodes"); do
		port=$((BASE_PORT + i))
		"$WORK/garde" serve --db "$url" --data-dir "$WORK/$nodes" --addr "127.0.0.1:$port" --log-level warn >"$WORK/$nodes/node$i.log" 2>&1 &
		pids+=($!)
		urls+=("http://127.0.0.1:$port")
	done
	for u in "${urls[@]}"; do
		for _ in $(seq 1 100); do curl -fs -o /dev/null "$u/readyz" && break; sleep 0.1; done
	done
	list=$(IFS=,; echo "${urls[*]}")
	log "$nodes node(s), $WORKERS clients, ${DURATION}s"
	"$WORK/loadgen" -url "$list" -admin "$admin" -register examples/register.yaml -duration "${DURATION}s" \
		-workers "$WORKERS" -acks "$WORK/$nodes/acks.txt" | grep -v '^slow or failed' | sed 's/^/  /'
	"$WORK/loadgen" -check -db "$url" -acks "$WORK/$nodes/acks.txt" | tail -1 | sed 's/^/  /'
	"$WORK/garde" verify ledger --db "$url" | sed 's/^/  /'
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
done

#!/bin/sh
# compare.sh OLD [NEW] [BENCH] [N] — runs one SQLite benchmark of garde
# against the same rows written straight into SQLite, alternately at two
# commits (NEW defaults to the working tree), three rounds, and prints the
# ratio garde/raw of each run: ratios measured in the same run hold on a
# noisy machine where absolute times drift.
#   sh bench/compare/compare.sh d9d112a            # the restructure of issue #14
set -eu
old=$1
new=${2:-}
bench=${3:-BenchmarkIngest}
n=${4:-5000x}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add -q --detach "$tmp/old" "$old"
(cd "$tmp/old" && go test -c -o "$tmp/old.test" ./sqlite)
if [ -n "$new" ]; then
	git -C "$root" worktree add -q --detach "$tmp/new" "$new"
	(cd "$tmp/new" && go test -c -o "$tmp/new.test" ./sqlite)
else
	(cd "$root" && go test -c -o "$tmp/new.test" ./sqlite)
fi
cd "$root/sqlite"
for round in 1 2 3; do
	for v in old new; do
		g=$("$tmp/$v.test" -test.run '^$' -test.bench "$bench/garde/batch=1\$" -test.benchtime "$n" | awk '/^Benchmark/{print $3}')
		r=$("$tmp/$v.test" -test.run '^$' -test.bench "$bench/raw/batch=1\$" -test.benchtime "$n" | awk '/^Benchmark/{print $3}')
		echo "round $round $v: garde $g ns/op, raw $r ns/op, garde/raw $(echo "scale=2; $g/$r" | bc)"
	done
done

#!/usr/bin/env bash
# Fuzzes every Fuzz target in the module for FUZZTIME each (default 3s),
# one target per `go test -fuzz` run, as go requires. Goes on after a
# failure and fails at the end if any target failed.
#
#   scripts/fuzz.sh                        # the brief run test.sh does
#   FUZZTIME=10m scripts/fuzz.sh           # longer
#   FUZZTIME=100000x scripts/fuzz.sh       # a number of inputs instead of a time
#
# A failing input is written by go under <package>/testdata/fuzz/<Target>/:
# commit it with the fix, and it runs with the unit tests from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

FUZZTIME=${FUZZTIME:-3s}

targets=0
failed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Every "func FuzzX(f *testing.F)" in a _test.go file, by package directory.
while IFS=: read -r file name; do
	pkg=./$(dirname "$file")
	targets=$((targets + 1))
	echo "-- $pkg $name ($FUZZTIME)"
	# Go's fuzzing engine can itself give up with "context deadline
	# exceeded" when a busy machine starves its workers near the end of a
	# short run. That is no finding (a finding says "Failing input
	# written"): run the target once more before calling it failed.
	for attempt in 1 2; do
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" </dev/null 2>&1 | tee "$log"; then
			break
		fi
		if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
			echo "fuzz.sh: $pkg $name: the fuzzing engine timed out without a finding; running it again"
			continue
		fi
		failed+=("$pkg $name")
		break
	done
done < <({ git ls-files --cached --others --exclude-standard '*_test.go' 2>/dev/null ||
	find . -name '*_test.go' -not -path '*/node_modules/*' | sed 's|^\./||'; } |
	xargs grep -oE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' |
	sed -E 's/\(f \*testing\.F\)$//; s/:func /:/' | sort)

if [ "$targets" -eq 0 ]; then
	echo "fuzz.sh: no Fuzz targets found" >&2
	exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz.sh: ${#failed[@]} of $targets targets failed: ${failed[*]}" >&2
	new=$(git status --porcelain --untracked-files=all -- '*/testdata/fuzz/*' 2>/dev/null | cut -c4- || true)
	if [ -n "$new" ]; then
		echo "fuzz.sh: failing inputs, to commit with the fix:" >&2
		echo "$new" | sed 's/^/  /' >&2
	fi
	exit 1
fi
echo "fuzz.sh: $targets targets fuzzed for $FUZZTIME each" >&2

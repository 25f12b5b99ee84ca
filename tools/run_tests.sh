#!/usr/bin/env bash
# make test: the fault tests (-m faults) one after another in one pytest process, every other test in a
# second process beside it. The fault suite spends most of its time waiting out bounds and outages, so the
# rest runs in that time; its tests never run beside each other, as their bounds were measured. Each
# process writes its own log; both are printed when both have ended (the fault run's summary last), and the
# exit code is the first failing one's. PYTEST_WORKERS=0: one process, everything in turn.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=${PYTEST:-.venv/bin/pytest}
if [ "${PYTEST_WORKERS:-2}" = "0" ]; then
  exec "$PYTEST" "$@"
fi
logs=.stack/test-logs
mkdir -p "$logs"
"$PYTEST" -m "not faults" "$@" >"$logs/main.log" 2>&1 &
main=$!
"$PYTEST" -m faults "$@" >"$logs/faults.log" 2>&1
faults_rc=$?
wait "$main"
main_rc=$?
echo "== every test but the fault suite ($logs/main.log), exit $main_rc"
cat "$logs/main.log"
echo "== the fault suite ($logs/faults.log), exit $faults_rc"
cat "$logs/faults.log"
[ "$main_rc" -ne 0 ] && exit "$main_rc"
exit "$faults_rc"

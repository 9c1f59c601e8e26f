#!/usr/bin/env bash
# Set up, then generate the quickstart's images end to end with `airflow dags test` (SQLite, no
# other server): against the local Runware emulator, or against Runware when RUNWARE_API_KEY is
# set. Images and a manifest land in ./demo-output (or $WAN_DEMO_OUTPUT).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

ROOT="$PWD"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export WAN_DEMO_OUTPUT="${WAN_DEMO_OUTPUT:-$ROOT/demo-output}"
mkdir -p "$AIRFLOW_HOME" "$WAN_DEMO_OUTPUT"
LOG_DIR="$AIRFLOW_HOME/demo-logs"
mkdir -p "$LOG_DIR"

if [ -n "${RUNWARE_API_KEY:-}" ]; then
  echo "== Using Runware's API (RUNWARE_API_KEY is set)"
  export AIRFLOW_CONN_RUNWARE_DEFAULT="{\"conn_type\": \"runware\", \"password\": \"$RUNWARE_API_KEY\"}"
else
  echo "== Starting the local Runware emulator (set RUNWARE_API_KEY to use Runware itself)"
  KEY="demo-emulator-key"
  .venv/bin/python -m airflow_provider_wan.emulator --host 127.0.0.1 --port 0 \
    --api-key "$KEY" --generation-time 1.5 >"$LOG_DIR/emulator.log" 2>&1 &
  EMULATOR_PID=$!
  trap 'kill "$EMULATOR_PID" 2>/dev/null || true; wait "$EMULATOR_PID" 2>/dev/null || true' EXIT
  URL=""
  for _ in $(seq 1 100); do
    URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$LOG_DIR/emulator.log" | head -n 1)
    [ -n "$URL" ] && break
    sleep 0.1
  done
  [ -n "$URL" ] || { cat "$LOG_DIR/emulator.log"; echo "the emulator did not start" >&2; exit 1; }
  echo "   emulator at $URL"
  export AIRFLOW_CONN_RUNWARE_DEFAULT="{\"conn_type\": \"runware\", \"host\": \"$URL\", \"password\": \"$KEY\"}"
fi

echo "== Preparing Airflow's database in $AIRFLOW_HOME"
.venv/bin/airflow db migrate >"$LOG_DIR/db-migrate.log" 2>&1 || { tail -n 30 "$LOG_DIR/db-migrate.log"; exit 1; }

echo "== Running the wan_quickstart DAG (airflow dags test)"
if ! .venv/bin/airflow dags test wan_quickstart >"$LOG_DIR/dags-test.log" 2>&1; then
  tail -n 60 "$LOG_DIR/dags-test.log"
  echo "The demo run failed; the whole log is in $LOG_DIR/dags-test.log" >&2
  exit 1
fi

MANIFEST=$(ls -t "$WAN_DEMO_OUTPUT"/*/_manifests/*.jsonl 2>/dev/null | head -n 1 || true)
if [ -z "$MANIFEST" ]; then
  tail -n 60 "$LOG_DIR/dags-test.log"
  echo "No manifest was written under $WAN_DEMO_OUTPUT" >&2
  exit 1
fi
echo
.venv/bin/python - "$MANIFEST" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
images = [line for line in lines if line["kind"] == "image"]
cost = sum(line.get("cost") or 0 for line in images)
print(f"{len(images)} images, {len(lines) - len(images)} failed, {cost:.2f} USD")
for line in images:
    print(f"  {line['item_key']:<14} {line['width']}x{line['height']} {line['format']:<4} {line['bytes']:>8} bytes  {line['uri']}")
PY
echo
echo "== Done"
echo "   images:   $(dirname "$(dirname "$MANIFEST")")"
echo "   manifest: $MANIFEST ($(wc -l <"$MANIFEST") lines)"
echo "   logs:     $LOG_DIR"

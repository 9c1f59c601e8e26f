#!/usr/bin/env bash
# Set up, then run the catalog_refresh campaign (dags/campaigns/catalog_refresh.yaml) end to end
# with `airflow dags test` (SQLite, no other server): against the local Runware emulator, or
# against Runware when RUNWARE_API_KEY is set. Images, the run manifest, a contact sheet and a
# summary land in ./demo-output (or $WAN_DEMO_OUTPUT) instead of the campaign's bucket.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

ROOT="$PWD"
CAMPAIGN=catalog_refresh
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export WAN_DEMO_OUTPUT="${WAN_DEMO_OUTPUT:-$ROOT/demo-output}"
mkdir -p "$AIRFLOW_HOME" "$WAN_DEMO_OUTPUT"
LOG_DIR="$AIRFLOW_HOME/demo-logs"
mkdir -p "$LOG_DIR"

if [ -n "${RUNWARE_API_KEY:-}" ]; then
  # Real images cost real money: the first 6 products unless WAN_DEMO_MAX_ITEMS says otherwise.
  MAX_ITEMS="${WAN_DEMO_MAX_ITEMS:-6}"
  echo "== Using Runware's API (RUNWARE_API_KEY is set): the first $MAX_ITEMS products"
  export AIRFLOW_CONN_RUNWARE_DEFAULT="{\"conn_type\": \"runware\", \"password\": \"$RUNWARE_API_KEY\"}"
else
  MAX_ITEMS="${WAN_DEMO_MAX_ITEMS:-}"
  echo "== Starting the local Runware emulator (set RUNWARE_API_KEY to use Runware itself)"
  KEY="demo-emulator-key"
  .venv/bin/wan emulator --host 127.0.0.1 --port 0 --api-key "$KEY" --generation-time 1.5 \
    >"$LOG_DIR/emulator.log" 2>&1 &
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

echo "== Checking the campaign files (wan campaign validate)"
.venv/bin/wan campaign validate --no-connections dags/campaigns | sed 's/^/   /'

echo "== Preparing Airflow's database in $AIRFLOW_HOME"
.venv/bin/airflow db migrate >"$LOG_DIR/db-migrate.log" 2>&1 || { tail -n 30 "$LOG_DIR/db-migrate.log"; exit 1; }

# The campaign writes to a bucket; this run's `destination` param sends it to a local folder.
DESTINATION="file://$WAN_DEMO_OUTPUT/$CAMPAIGN/{{ ds }}/{item_key}-{index}.{ext}"
CONF=$(.venv/bin/python -c 'import json, sys; d = {"destination": sys.argv[1]}; n = sys.argv[2]; d.update({"max_items": int(n)} if n else {}); print(json.dumps(d))' "$DESTINATION" "$MAX_ITEMS")
echo "== Running the $CAMPAIGN campaign (airflow dags test $CAMPAIGN)"
STARTED=$(date +%s)
.venv/bin/airflow dags test "$CAMPAIGN" -c "$CONF" >"$LOG_DIR/dags-test.log" 2>&1 || true

MANIFEST=$(find "$WAN_DEMO_OUTPUT/$CAMPAIGN" -path '*/_manifests/*.jsonl' ! -name '*.part-*' -newermt "@$((STARTED - 1))" 2>/dev/null | head -n 1 || true)
if [ -z "$MANIFEST" ]; then
  tail -n 60 "$LOG_DIR/dags-test.log"
  echo "The demo run wrote no manifest under $WAN_DEMO_OUTPUT/$CAMPAIGN; the whole log is in $LOG_DIR/dags-test.log" >&2
  exit 1
fi
SUMMARY="${MANIFEST%.jsonl}.summary.json"
echo
.venv/bin/python - "$MANIFEST" "$SUMMARY" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
summary = json.load(open(sys.argv[2]))
for line in lines:
    if line["kind"] == "image":
        print(f"  {line['item_key']:<8} {line['width']}x{line['height']} {line['format']:<4} {line['bytes']:>8} bytes  {line['uri']}")
    else:
        print(f"  {line['item_key']:<8} FAILED {line['code']}: {line['message']}")
print()
print(f"{summary['images']} images, {summary['failures']} failed, {summary['cost_usd']:.2f} USD "
      f"in {summary['duration_seconds']:.0f} s; status: {', '.join(summary['status'])}")
for message in summary["messages"]:
    print(f"  {message}")
sys.exit(0 if summary["status"] == ["complete"] else 1)
PY
echo
echo "== Done"
echo "   images:        $(dirname "$(dirname "$MANIFEST")")"
echo "   manifest:      $MANIFEST ($(wc -l <"$MANIFEST") lines)"
echo "   contact sheet: ${MANIFEST%.jsonl}.contact-sheet.png"
echo "   summary:       $SUMMARY"
echo "   logs:          $LOG_DIR"

#!/usr/bin/env bash
# Reproduces the Docker image's runtime stage without Docker: the built dist/ plus production
# dependencies only (`npm ci --omit=dev`), started the way the image starts it
# (`node dist/main.js`, NODE_ENV=production), must serve /health and drain on SIGTERM.
# Run after `npm run build`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

cp "$root/package.json" "$root/package-lock.json" "$work/"
cp -r "$root/dist" "$root/config" "$root/policies" "$work/"
(cd "$work" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
if [ -e "$work/node_modules/typescript" ] || [ -e "$work/node_modules/tap" ]; then
  echo "dev dependencies leaked into the production install" >&2
  exit 1
fi

port=$(node -e 'const s=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})')
cat >"$work/aigov.yaml" <<YAML
database:
  embedded_dir: $work/data/pglite
audit:
  spool_dir: $work/data/spool
YAML
(cd "$work" && NODE_ENV=production AIGOV_EMBEDDED_DB=true HOST=127.0.0.1 PORT=$port \
  AIGOV_CONFIG="$work/aigov.yaml" LOG_LEVEL=warn exec node dist/main.js >"$work/server.log" 2>&1) &
pid=$!
for _ in $(seq 1 120); do
  if body=$(curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null); then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$work/server.log"; echo "server exited" >&2; exit 1; fi
  sleep 0.5
done
echo "health: ${body:-none}"
[[ "${body:-}" == *'"status":"ok"'* ]] || { cat "$work/server.log"; exit 1; }
ready=$(curl -sS "http://127.0.0.1:$port/ready")
echo "ready: $ready"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
if [ "$rc" -ne 0 ]; then cat "$work/server.log"; echo "server exited with $rc after SIGTERM" >&2; exit 1; fi
echo "dist smoke: ok"

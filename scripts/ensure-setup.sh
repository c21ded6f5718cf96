#!/bin/sh
# Brings a fresh machine to the point where the demo and the tests can run:
#   - Debian's docker-registry (CNCF Distribution), the real registry the tests and demo start on 127.0.0.1,
#     and skopeo, the real client of the registry-gate tests;
#   - Debian's postgresql (server binaries only are used: the tests start a throwaway cluster as an
#     unprivileged user in a temporary directory, see src/dev/local-postgres.ts);
#   - the npm dependencies, including the node@24 package whose binary npm scripts put first on PATH
#     (the machine's own node may be older).
# Idempotent and quiet when everything is already there.
set -eu
cd "$(dirname "$0")/.."

# skopeo: the real OCI client the registry-gate end-to-end tests drive.
missing=""
[ -x "${COUNTERSIGN_REGISTRY_BIN:-/usr/bin/docker-registry}" ] || missing="docker-registry"
command -v skopeo >/dev/null 2>&1 || missing="$missing skopeo"
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$missing postgresql"
if [ -n "$missing" ]; then
  echo "ensure-setup: installing Debian's$missing" >&2
  SUDO=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "ensure-setup:$missing missing and we are not root: run 'apt-get install$missing' as root" >&2
      exit 1
    fi
  fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Reinstall node_modules when the lockfile changed since the last install.
stamp=node_modules/.countersign-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "ensure-setup: installing npm dependencies" >&2
  # `npm ci`: exactly the committed lockfile, which is never rewritten (a fresh clone stays clean).
  # The lockfile lists every platform's optional bindings (e.g. unrs-resolver's, a jest dependency);
  # an install that adds or drops any would make `npm ci` refuse it as out of sync.
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

node_major=$(npm exec --offline -- node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 24 ]; then
  echo "ensure-setup: Node.js 24 is not available through npm (got major $node_major); check the node@24 dependency" >&2
  exit 1
fi

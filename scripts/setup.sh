#!/usr/bin/env bash
# One-time setup: npm packages and the Python worker environment (.venv/ from requirements.txt).
# Safe to re-run: it skips what is already installed and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  log "npm packages up to date"
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
  echo "[setup] error: need Python >= 3.10 as '$PY' (set PYTHON=/path/to/python3)" >&2
  exit 1
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt requirements-dev.txt py/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "python environment up to date (.venv)"
else
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $("$PY" --version)"
    "$PY" -m venv .venv
  fi
  log "installing requirements.txt into .venv (torch is large: several minutes on a fresh machine)"
  .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
  log "installing requirements-dev.txt (the optional engines the tests cover: Ray)"
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
  .venv/bin/python -m pip install --disable-pip-version-check -q --no-deps -e py
  echo "$want" > "$stamp"
fi
# The CLI runs bundled JavaScript (scripts/build.mjs; bin/lo-exp.js falls back to tsx when dist/ is older
# than ts/): about 0.3 s of start-up per call instead of about 2 s.
log "bundling the TypeScript CLI into dist/cli/"
npm run --silent build
log "done"

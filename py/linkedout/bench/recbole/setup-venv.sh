#!/usr/bin/env bash
# The RecBole bench's own Python environment (.bench-venv/recbole, gitignored). RecBole is not a product
# dependency; it pins an older stack than the product's .venv:
#   numpy<2          recbole 1.2.1 (and so pyarrow 17, the newest pyarrow for numpy 1.x here)
#   setuptools<81    ray (a recbole dependency) imports pkg_resources
#   pandas 2.2.x     pandas 3 breaks recbole's id remapping (`feat[field] = np.split(...)`)
# torch is NOT installed again (several GB): the product .venv's site-packages is appended to sys.path
# by a .pth file, after this venv's own packages, so numpy/pandas/pyarrow here take precedence.
# Safe to re-run; skips an up-to-date environment.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
VENV=${RECBOLE_VENV:-.bench-venv/recbole}
PINS=("recbole==1.2.1" "numpy==1.26.4" "setuptools==80.10.2" "pandas==2.2.3" "pyarrow==17.0.0")
stamp="$VENV/.pins"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PINS[*]}" ]; then
  echo "[recbole-venv] up to date ($VENV)"; exit 0
fi
[ -x .venv/bin/python ] || { echo "[recbole-venv] error: no product .venv (run scripts/setup.sh first)" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || .venv/bin/python -m venv "$VENV"   # the product interpreter: its torch must match
product_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
bench_site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$product_site" > "$bench_site/zz-product-torch.pth"
echo "[recbole-venv] installing ${PINS[*]} into $VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "${PINS[@]}"
echo "${PINS[*]}" > "$stamp"
echo "[recbole-venv] done"

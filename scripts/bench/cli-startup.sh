#!/usr/bin/env bash
# CLI start-up, two checkouts side by side (each set up with its own `npm run setup`), interleaved:
#   scripts/bench/cli-startup.sh BEFORE_DIR AFTER_DIR [RUNS]
# Prints, per command, each side's wall seconds sorted and the median user+sys CPU, with the load average.
# Not a `lo-exp bench` verb: it times `npx lo-exp` itself, from outside, in two trees.
set -euo pipefail
before=$1 after=$2 runs=${3:-7}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for cmd in "npx lo-exp --help" "node bin/lo-exp.js --help" \
           "npx lo-exp config show configs/quickstart.yaml" "node bin/lo-exp.js config show configs/quickstart.yaml"; do
  : > "$tmp/before"; : > "$tmp/after"
  for _ in $(seq "$runs"); do
    for side in before after; do
      dir=${!side}
      (cd "$dir" && /usr/bin/time -a -o "$tmp/$side" -f "%e %U %S" $cmd >/dev/null 2>&1)
    done
  done
  for side in before after; do
    echo "$cmd | $side | $(awk '{print $1}' "$tmp/$side" | sort -n | tr '\n' ' ')| cpu median $(awk '{print $2+$3}' "$tmp/$side" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

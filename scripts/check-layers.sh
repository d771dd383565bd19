#!/usr/bin/env bash
# Fails when a source file includes a header of a layer it may not depend on (docs/architecture.md):
# engine (formats, crypto, keyring rules; no I/O) <- db (storage) <- pipeline (jobs, library API)
# <- cli (flags and rendering); metrics and hsm beside; base under all. The build enforces the same
# order for what it compiles (each library's include root, cmake/udmg.cmake); this check covers
# every file, headers no source of their layer includes among them.
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"

# layer -> the layers its files may include (its own included).
declare -A allowed=(
  [base]="base"
  [engine]="engine base"
  [hsm]="hsm engine base"
  [db]="db engine base"
  [metrics]="metrics base"
  [pipeline]="pipeline db engine base"
  [cli]="cli pipeline db engine base hsm metrics"
)
# The job's metrics (target udmg_job_metrics) sit in pipeline/ but may also use the metrics
# library: the pipeline itself does not depend on it.
job_metrics='^pipeline/(job_metrics|key_state_metrics)\.(h|cc)$'

status=0
for layer in "${!allowed[@]}"; do
  while IFS= read -r file; do
    while IFS= read -r included; do
      target_layer=${included%%/*}
      [[ " ${allowed[$layer]} " == *" $target_layer "* ]] && continue
      [[ $target_layer == metrics && $file =~ $job_metrics ]] && continue
      [[ -n ${allowed[$target_layer]:-} ]] || continue  # not a layer (a system header path)
      echo "$file: includes $included: $layer may include only ${allowed[$layer]}" >&2
      status=1
    done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$file")
  done < <(find "$layer" -name '*.h' -o -name '*.cc' | sort)
done
if [[ $status != 0 ]]; then
  echo "check-layers: the includes above go against the layers (docs/architecture.md)" >&2
fi
exit $status

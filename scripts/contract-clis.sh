#!/usr/bin/env bash
# Install every pinned CLI the contract tests drive (each scripts/install-*.sh), quietly.
# Exit 0: all installed. Exit 3 (locally, without npm or when an install fails): one line on
# stderr says what is skipped and how to install it; the caller runs the other tests.
# Under CI ($CI set) a missing CLI is a failure: the install's own output, then exit 1.
set -uo pipefail
cd "$(dirname "$0")/.."

mkdir -p .tools
log=.tools/install.log
: >"$log"
installers=()
for script in scripts/install-*.sh; do
    [ "$script" = scripts/install-llama.sh ] || installers+=("$script")  # a server, not a CLI: test.sh runs it
done
names=$(for script in "${installers[@]}"; do basename "$script" .sh | sed 's/^install-//'; done | paste -sd, - | sed 's/,/, /g')

if ! command -v npm >/dev/null 2>&1; then
    reason="npm is not on PATH (install Node.js >= 20 with npm, then rerun)"
else
    failed=()
    for script in "${installers[@]}"; do
        if ! bash "$script" >>"$log" 2>&1; then
            failed+=("$(basename "$script")")
        fi
    done
    if [ "${#failed[@]}" -eq 0 ]; then
        exit 0
    fi
    reason="${failed[*]} failed (see $log; rerun it once the cause is fixed)"
fi
if [ -n "${CI:-}" ]; then
    cat "$log" >&2
    echo "contract-clis: the pinned CLIs ($names) are required under CI: $reason" >&2
    exit 1
fi
echo "test.sh: skipping the contract tests of the pinned CLIs ($names): $reason" >&2
exit 3

#!/bin/sh
# Runs every fuzz target (or those named) one after another for SECONDS
# each (default 600), at low priority, one job at a time, growing
# fuzz/corpus/<target> from fuzz/seeds/<target>. Logs go to
# fuzz/logs/<target>/fuzz-0.log; a crash leaves its input in
# fuzz/artifacts/<target>/ and the script goes on with the next target.
#
#   fuzz/run-all.sh                 # all targets, 10 minutes each
#   fuzz/run-all.sh 60 document     # one target for a minute
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-"document wire reconcile routing keys search_query search_request node_config client_config certs_pem tls_materials wiki_text wiki_merge mediawiki"}
cd "$root" && cargo +nightly fuzz build -a || exit 1
for t in $targets; do
    mkdir -p "$root/fuzz/corpus/$t" "$root/fuzz/logs/$t" "$root/fuzz/artifacts/$t"
    rm -f "$root/fuzz/logs/$t"/fuzz-*.log
    echo "$(date -u +%FT%TZ) $t: start"
    (cd "$root/fuzz/logs/$t" && nice -n 10 cargo +nightly fuzz run -a --fuzz-dir "$root/fuzz" "$t" \
        "$root/fuzz/corpus/$t" "$root/fuzz/seeds/$t" -- \
        -max_total_time="$secs" -jobs=1 -print_final_stats=1 \
        -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
        -artifact_prefix="$root/fuzz/artifacts/$t/" >/dev/null 2>&1)
    echo "$(date -u +%FT%TZ) $t: exit $?"
    tail -n 12 "$root/fuzz/logs/$t/fuzz-0.log" | grep -E '^#|stat::|ERROR|panicked|SUMMARY' || true
done

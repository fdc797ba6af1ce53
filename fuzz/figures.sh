#!/bin/sh
# Prints a Markdown table of the last run of each target from
# fuzz/logs/<target>/fuzz-0.log (what docs/fuzzing.md records).
root=$(cd "$(dirname "$0")/.." && pwd)
echo "| target | executions | exec/s | cov | ft | corpus (files / size) | time (s) | peak RSS (MB) | crashes |"
echo "|---|---:|---:|---:|---:|---|---:|---:|---|"
for log in "$root"/fuzz/logs/*/fuzz-0.log; do
    t=$(basename "$(dirname "$log")")
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
    execs=$(grep 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    rate=$(grep 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
    rss=$(grep 'stat::peak_rss_mb' "$log" | awk '{print $2}')
    cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$done_line" | sed -n 's/.*corp: \([^ ]*\).*/\1/p')
    secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | awk '{print $5}')
    crash=$(grep -cE 'ERROR: libFuzzer|panicked|==ERROR' "$log")
    echo "| $t | $execs | $rate | $cov | $ft | $corp | ${secs:-?} | $rss | $crash |"
done

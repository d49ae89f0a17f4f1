#!/bin/sh
# filters.sh -- expected/filters.tsv: for every MANIFEST capture x every filter in filters.txt,
# the frames tshark 4.0.17 matches (count + frame numbers, comma-separated; "-" if none).
# Reference for keepsight's display-filter engine.  ~1500 tshark runs: a few minutes.
cd "$(dirname "$0")/.."
out=expected/filters.tsv
printf 'file\tfilter\tcount\tframes\n' > "$out"
tail -n +2 MANIFEST.tsv | cut -f1 | while read -r f; do
  grep -v '^#' make/filters.txt | while IFS= read -r flt; do
    [ -n "$flt" ] || continue
    fr=$(tshark -r "$f" -Y "$flt" -T fields -e frame.number 2>/dev/null | paste -sd, -)
    n=0; [ -n "$fr" ] && n=$(echo "$fr" | tr ',' '\n' | wc -l)
    printf '%s\t%s\t%s\t%s\n' "$f" "$flt" "$n" "${fr:--}" >> "$out"
  done
done
wc -l "$out"

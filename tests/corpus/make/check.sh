#!/bin/sh
# check.sh -- sanity of the committed corpus: every MANIFEST file exists, is < 200 KB and tshark
# reads it without error; every bad/ file gives the tshark exit status bad/MANIFEST.tsv records;
# every scenario has truth.json and captures < 200 KB.  Prints 'N passed, N failed'.
cd "$(dirname "$0")/.."
pass=0; fail=0
ok() { pass=$((pass+1)); }
ko() { fail=$((fail+1)); echo "FAIL: $*"; }
tail -n +2 MANIFEST.tsv | cut -f1 | while read -r f; do echo "$f"; done > /tmp/ks-manifest.$$
while read -r f; do
  if [ ! -f "$f" ]; then ko "$f missing"; continue; fi
  sz=$(stat -c %s "$f"); [ "$sz" -lt 204800 ] || { ko "$f is $sz bytes"; continue; }
  if command -v tshark >/dev/null; then
    tshark -r "$f" >/dev/null 2>&1 || { ko "tshark cannot read $f"; continue; }
  fi
  ok
done < /tmp/ks-manifest.$$
rm -f /tmp/ks-manifest.$$
tail -n +2 bad/MANIFEST.tsv | cut -f1,2,3 > /tmp/ks-bad.$$
while read -r f want nframes; do
  [ -f "bad/$f" ] || { ko "bad/$f missing"; continue; }
  if command -v tshark >/dev/null; then
    tshark -r "bad/$f" >/dev/null 2>&1; got=$?
    [ "$got" = "$want" ] || { ko "bad/$f: tshark exit $got, manifest says $want"; continue; }
    n=$(tshark -r "bad/$f" -T fields -e frame.number 2>/dev/null | wc -l)
    [ "$n" = "$nframes" ] || { ko "bad/$f: tshark lists $n frames, manifest says $nframes"; continue; }
  fi
  ok
done < /tmp/ks-bad.$$
rm -f /tmp/ks-bad.$$
for d in ../scenarios/*/ ../scenarios/*/*/; do
  ls "$d"*.pcap* >/dev/null 2>&1 || continue
  [ -f "$d/truth.json" ] || { ko "$d has no truth.json"; continue; }
  python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$d/truth.json" || { ko "$d/truth.json is not JSON"; continue; }
  for c in "$d"*.pcap*; do
    sz=$(stat -c %s "$c"); [ "$sz" -lt 204800 ] || ko "$c is $sz bytes"
  done
  ok
done
echo "corpus: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/sh
# survey.sh -- record what tshark 4.0.17 says about every capture in the corpus.
#   expected/<path with / -> __>.tsv : one row per frame: tcp.stream, lengths, seq/ack and every
#       tcp.analysis flag as tshark 4.0.17 computed it (default preferences; relative seq numbers)
#   TSHARK-NOTES.txt : capinfos summary + `tshark -q -z expert` per file
#   ../scenarios/**/<capture>.tshark.tsv : the same per-frame reference for the scenario captures
# Reference data for differential tests that must run where tshark is absent.  Run from anywhere.
set -e
cd "$(dirname "$0")/.."
mkdir -p expected
: > TSHARK-NOTES.txt
tshark -v 2>/dev/null | head -1 >> TSHARK-NOTES.txt
fields="frame.number frame.time_epoch frame.len frame.cap_len ip.src ipv6.src tcp.srcport tcp.dstport
 tcp.stream tcp.len tcp.seq tcp.ack tcp.flags tcp.window_size
 tcp.analysis.keep_alive tcp.analysis.keep_alive_ack tcp.analysis.retransmission
 tcp.analysis.fast_retransmission tcp.analysis.spurious_retransmission tcp.analysis.out_of_order
 tcp.analysis.lost_segment tcp.analysis.ack_lost_segment tcp.analysis.duplicate_ack_num
 tcp.analysis.duplicate_ack_frame tcp.analysis.zero_window tcp.analysis.zero_window_probe
 tcp.analysis.zero_window_probe_ack tcp.analysis.window_update tcp.analysis.window_full
 tcp.analysis.reused_ports tcp.analysis.rto tcp.analysis.ack_rtt udp.stream"
ef=""; for f in $fields; do ef="$ef -e $f"; done
for f in $(find . -path ./bad -prune -o -path ./expected -prune -o -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.gz' \) -print | sed 's|^\./||' | sort); do
  out="expected/$(echo "$f" | sed 's|/|__|g').tsv"
  tshark -r "$f" -T fields -E header=y -E separator=/t -E occurrence=a -E aggregator=, $ef 2>/dev/null > "$out"
  {
    echo; echo "=== $f"
    capinfos -t -E -c -l "$f" 2>/dev/null | grep -E 'File type|encapsulation|Number of packets|Packet size limit' | sed 's/  */ /g'
    tshark -r "$f" -q -z expert 2>/dev/null | grep -E '^ +[0-9]+ ' | grep -v 'Duplicate ACK (#' || true
    n=$(tshark -r "$f" -Y tcp.analysis.duplicate_ack 2>/dev/null | wc -l); [ "$n" -gt 0 ] && echo "  (duplicate ACK frames: $n)"
    true
  } >> TSHARK-NOTES.txt
done
# scenario captures: reference next to each capture (<capture>.tshark.tsv) + notes
for f in $(find ../scenarios -name '*.pcapng' | sort); do
  tshark -r "$f" -T fields -E header=y -E separator=/t -E occurrence=a -E aggregator=, $ef 2>/dev/null > "${f%.pcapng}.tshark.tsv"
  {
    echo; echo "=== $f"
    tshark -r "$f" -q -z expert 2>/dev/null | grep -E '^ +[0-9]+ ' | grep -v 'Duplicate ACK (#' || true
  } >> TSHARK-NOTES.txt
done
du -sh expected

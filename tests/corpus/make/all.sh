#!/bin/sh
# all.sh -- regenerate the whole corpus in dependency order (run as root; ~1 min).
# Needs: tshark/dumpcap/editcap/mergecap/capinfos 4.0.x, python3 >= 3.11, iproute2, iptables,
# ethtool (apt-get install -y ethtool).  Re-running changes the bytes of every real capture (and
# therefore the frame numbers quoted in README.md): re-check README.md after a regeneration.
set -e
cd "$(dirname "$0")"
python3 heartbeat.py
python3 keepalive.py
python3 portreuse.py
python3 bulk.py
python3 zerowindow.py
python3 ipv6mix.py
python3 edgecases.py
python3 relink.py       # link/ and fmt/ from heartbeat.pcap, ipv6-mixed*, keepalive, portreuse
sh synth.sh
python3 make_bad.py     # bad/ from heartbeat.pcap and keepalive.pcapng
sh survey.sh            # expected/*.tsv and TSHARK-NOTES.txt
sh check.sh

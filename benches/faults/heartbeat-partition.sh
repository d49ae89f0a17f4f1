#!/usr/bin/env bash
# The long version of the heartbeat partition test: a 30 s iptables DROP between the client's
# and the server's namespaces (instead of the 3 s of `cargo test`), with the same assertions:
# death declared within every × misses + timeout of the last reply, reconnection attempts
# backing off while cut, reconnection within the backoff cap plus a connect timeout of the
# path's return, and probes on schedule afterwards. Needs root and iptables.
#
#   benches/faults/heartbeat-partition.sh        # 30 s
#   PARTITION_S=120 benches/faults/heartbeat-partition.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
KEEPSIGHT_FAULTS_PARTITION_S=${PARTITION_S:-30} cargo test --release -p keepsight-keepalive \
  --test faults faults_heartbeat_partition -- --nocapture 2>&1 |
  grep -E "partition of|declared dead|reconnected|test result|panicked"

#!/usr/bin/env python3
"""Writes random display filters (one per line) over keepsight's registry fields, for the
differential test: python3 tests/filters/gen_random.py SEED COUNT > tests/filters/random.txt
The grammar mixes every construct (comparisons, quantifiers, sets, slices, contains, matches,
functions, arithmetic, not/and/or) with literals that are meaningful on the test captures."""
import random, sys
random.seed(int(sys.argv[1]))
ints = ["tcp.len","tcp.srcport","tcp.dstport","tcp.port","tcp.stream","tcp.hdr_len","tcp.flags","ip.ttl","ip.len","frame.len","frame.number","tcp.seq","tcp.ack","tcp.window_size_value","tcp.window_size","tcp.analysis.acks_frame","udp.port","eth.type","ip.proto","tcp.completeness","tcp.window_size_scalefactor","tcp.nxtseq"]
bools = ["tcp.flags.syn","tcp.flags.ack","tcp.flags.fin","tcp.flags.reset","tcp.flags.push","ip.flags.df"]
bytesf = ["tcp.payload","tcp","frame","eth","data.data","udp.payload","tcp.options","ip"]
strs = ["frame.protocols","tcp.flags.str"]
nones = ["tcp.analysis.keep_alive","tcp.analysis.flags","tcp.analysis.retransmission","tcp.analysis","tcp.options.sack_perm","udp","ipv6","vlan","tcp.analysis.keep_alive_ack","tcp.analysis.zero_window"]
addrs = ["ip.src","ip.dst","ip.addr"]
times = ["frame.time_relative","frame.time_delta","tcp.time_delta","tcp.time_relative"]
ops = ["==","!=",">","<",">=","<=","===","!==","~=","eq","ne","gt","lt"]
def intlit():
    return random.choice(["0","1","2","7","20","0x12","0x10","010","0b11","64","7777","40000","40001","47001","1460","-1","3","0x0800","'A'", "65535"])
def byteslit():
    return random.choice(['01','41','41:41','"abc"','"A"','78','"xx"','01:02','0x41','"\\x01"','61:62:63','02:00','"GET"','"x"','ff','00','4141','"hello"'])
def atom():
    k = random.random()
    if k < 0.3:
        f = random.choice(ints); 
        r = random.random()
        if r < 0.1: return f"{f} in {{{intlit()}, {intlit()}..{intlit()}}}"
        if r < 0.15: return f"{f} & {random.choice(['1','2','0x10','0x12','4'])}"
        if r < 0.2: return f"{f} + {random.choice(['1','2'])} {random.choice(ops)} {intlit()}"
        if r < 0.25: return f"{random.choice(['all','any'])} {f} {random.choice(ops[:6])} {intlit()}"
        return f"{f} {random.choice(ops)} {intlit()}"
    if k < 0.4:
        bl = random.choice(['0','1','True','False','"Set"','"not set"','2'])
        return f"{random.choice(bools)} {random.choice(ops[:6])} {bl}"
    if k < 0.6:
        f = random.choice(bytesf)
        r = random.random()
        sl = random.choice(['', '[0]', '[1:2]', '[-1]', '[0-1]', '[2:]', '[:3]', '[0,2]'])
        if r < 0.35: return f"{f}{sl} contains {byteslit()}"
        if r < 0.5:
            pat = random.choice(["^a","x$","abc","(?-i)ABC","[0-9]",".","^\\x01$","a.c","\\x00"])
            return f'{f}{sl} matches "{pat}"'
        if r < 0.6: return f"len({f}) {random.choice(ops[:6])} {random.choice(['0','1','2','7','20','54','60'])}"
        return f"{f}{sl} {random.choice(ops[:6])} {byteslit()}"
    if k < 0.7:
        f = random.choice(strs)
        return f'{f} {random.choice(["contains","==","matches",">","<","!="])} "{random.choice(["tcp","eth:ethertype:ip:tcp","data","ip","A","S","ipv6","udp"])}"'
    if k < 0.85:
        return random.choice(nones + bools + ints[:5])
    if k < 0.93:
        return f"{random.choice(addrs)} {random.choice(ops[:6])} {random.choice(['10.0.0.1','10.0.0.0/24','10.0.0.2','192.168.0.0/16','10.77.1.1','0.0.0.0/0','10.0.0.1/31'])}"
    return f"{random.choice(times)} {random.choice(ops[:6])} {random.choice(['0','0.001','1','40','45','0.5','230.5'])}"
def expr(d=0):
    k = random.random()
    if d > 2 or k < 0.4: return atom()
    if k < 0.55: return f"not {expr(d+1)}"
    if k < 0.65: return f"!({expr(d+1)})"
    if k < 0.82: return f"{expr(d+1)} and {expr(d+1)}"
    if k < 0.95: return f"{expr(d+1)} or {expr(d+1)}"
    return f"({expr(d+1)} || {expr(d+1)}) && {expr(d+1)}"
n = int(sys.argv[2])
seen=set()
while len(seen) < n:
    seen.add(expr())
for e in sorted(seen): print(e)

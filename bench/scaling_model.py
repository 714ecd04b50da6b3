#!/usr/bin/python3
"""docs/scaling.md's arithmetic: expected samples/s at 8, 64 and 512 ranks from per-step compute and
message sizes measured with bench/mpi_train.sh and reckon widedeep --hvd (the inputs below, with
where each comes from). Prints the markdown tables of docs/scaling.md.
"""
# per-step time = compute + communication (no overlap),
# weak scaling (b rows per rank per step); samples/s = p * b / t_step.
ALPHA = 5e-6                        # s per message (RDMA-class fabric)
NETS = {"100 Gb/s": 12.5e9, "400 Gb/s": 50e9}   # bytes/s per rank link
P = [8, 64, 512]

def ring_allreduce(bytes_, p, bw):      # dense gradients, the textbook ring
    return 2 * (p - 1) / p * bytes_ / bw + 2 * (p - 1) * ALPHA
def allgather(bytes_, p, bw):           # each rank's block to every other rank (ring)
    return (p - 1) * bytes_ / bw + (p - 1) * ALPHA
def alltoall(bytes_, p, bw):            # bytes_: what one rank exchanges with all others in total
    return (p - 1) / p * bytes_ / bw + (p - 1) * ALPHA

def table(name, b, tc, schemes):
    print(f"\n{name}: b = {b} rows/rank/step, compute {tc*1e3:.1f} ms/step")
    print("| scheme | network | " + " | ".join(f"p = {p}" for p in P) + " |")
    print("|---|---|" + "---:|" * len(P))
    for sname, comm in schemes:
        for net, bw in NETS.items():
            cells = []
            for p in P:
                tcomm = comm(p, bw)
                cells.append(f"{p * b / (tc + tcomm):,.0f} ({tcomm*1e3:.1f} ms)")
            print(f"| {sname} | {net} | " + " | ".join(cells) + " |")

# ---- inputs (measured here, docs/scaling.md "Inputs") ----
# Wide & Deep, the recipe's model: 5.56M MLP weights -> G = 22.2 MB of dense gradient; the 2-rank
# run sent 29.0 MB per rank per step at 4096 rows/rank -> S = 6.8 MB of touched table rows per
# 4096 rows; compute 1.4 s per 4096-row step on one core (1 thread).
G_wd, S_wd4096, tc_wd4096 = 22.2e6, 6.8e6, 1.40
b = 16384                                # the seed: global 131072 over 8 ranks
S_wd = S_wd4096 * b / 4096               # upper bound: touched rows grow at most linearly with b
tc_cpu = tc_wd4096 * b / 4096
tc_gpu = b / 168e3                       # the recipe's own V100 figure, 168k samples/s
for label, tc in (("one CPU core per rank", tc_cpu), ("V100-class (168k samples/s per rank)", tc_gpu)):
    table(f"Wide & Deep recipe, {label}", b, tc, [
        ("reckon today: allgather of each rank's gradient (dense + rows)", lambda p, bw: allgather(G_wd + S_wd, p, bw)),
        ("ring allreduce (dense) + allgather (rows)", lambda p, bw: ring_allreduce(G_wd, p, bw) + allgather(S_wd, p, bw)),
        # sharded: ids out, vectors back, gradients to the owner: b (8 + 8D) per lookup <= 2 S
        ("ring allreduce (dense) + tables sharded, all-to-all", lambda p, bw: ring_allreduce(G_wd, p, bw) + alltoall(2 * S_wd, p, bw) + 2 * (p - 1) * ALPHA),
    ])

# DLRM with a 100M-row table (D = 128): the TenRec DLRM measured here with its user table grown to
# 100M rows. Dense G = 374,788 B; the 2-rank run sent 2.20 MB/rank/step; compute 47 ms per
# 4096-row step on one core. The big table: every lookup a distinct row (U = b): replicated, its
# rows cost b (8 + 4D) = 2.13 MB per rank per step to allgather; sharded, ids out and vectors
# back, gradients to the owner: b (8 + 8D) (p-1)/p = 4.23 MB x (p-1)/p. The other tables' rows:
# 1.82 MB measured (all tables) - 1394 users x 520 B = 1.10 MB; those tables hold 3,993 rows
# (2.04 MB): past a few ranks a dense allreduce of them is cheaper than gathering their rows.
D, bd, tc_d = 128, 4096, 0.047
G_d, S_small, T_small = 374788, 1.10e6, 2.04e6
small = lambda p, bw: min(allgather(S_small, p, bw), ring_allreduce(T_small, p, bw))
big_rep = bd * (8 + 4 * D)
big_shard = bd * (8 + 8 * D)
table("DLRM, 100M-row table, one CPU core per rank", bd, tc_d, [
    ("reckon today: allgather (table replicated: 154 GB with Adam, does not fit)", lambda p, bw: allgather(G_d + S_small + big_rep, p, bw)),
    ("ring allreduce (dense) + allgather (rows), table replicated", lambda p, bw: ring_allreduce(G_d, p, bw) + allgather(S_small + big_rep, p, bw)),
    ("hybrid: big table sharded (all-to-all), small ones replicated", lambda p, bw: ring_allreduce(G_d, p, bw) + small(p, bw) + alltoall(big_shard, p, bw) + 2 * (p - 1) * ALPHA),
])

#!/usr/bin/env bash
# Sequence-block benchmark: forward + backward of one GPT-2 block (B=64 sessions x T=20, d_model 64
# and 256, dropout 0.1) and of one GRU layer (d -> d), reckon (bench/seq_bench.c) against PyTorch
# (bench/peers/seq_torch.py: the block of tests/reference/seq_blocks.py that the fixtures check
# reckon's against, torch.nn.GRU) at the same thread count, alternating ROUNDS times (the best of
# each side is kept: the machine is shared).
#
#   bench/seq.sh [reckon-build-dir]       THREADS="1 2" TIME=2 D=64,256 ROUNDS=3 BLOCKS="gpt2 gru" bench/seq.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
[ -x "$build/bench/seq_bench" ] || { echo "seq.sh: no $build/bench/seq_bench (build reckon first)" >&2; exit 1; }
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$("$build/reckon" --version | sed -n 's/^blas kernels: //p')}"
for blk in ${BLOCKS:-gpt2 gru}; do
for t in ${THREADS:-1}; do
  out=""
  for _ in $(seq "${ROUNDS:-3}"); do
    out+=$("$build/bench/seq_bench" --block "$blk" --d "${D:-64,256}" --threads "$t" --time "${TIME:-2}")$'\n'
    out+=$(OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t OMP_WAIT_POLICY=PASSIVE \
      /usr/bin/python3 "$root/bench/peers/seq_torch.py" --block "$blk" --d "${D:-64,256}" --threads "$t" --time "${TIME:-2}")$'\n'
  done
  # best ms per side and d, then torch / reckon
  printf '%s' "$out" | awk '{ what = $2; split($5, d, "="); split($8, m, "="); k = $1 " " d[2];
      if (!(k in best) || m[2] < best[k]) best[k] = m[2]; ds[d[2]] = 1 }
    END { for (x in ds) printf "%s B=64 T=20 d=%s threads='"$t"': reckon %.1f ms, torch %.1f ms per step: %.2fx\n",
          what, x, best["reckon " x], best["torch " x], best["torch " x] / best["reckon " x] }' | sort -t= -k4 -n
done
done

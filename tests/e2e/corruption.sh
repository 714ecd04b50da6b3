#!/usr/bin/env bash
# Corrupt Parquet input is reported, never converted: `reckon convert` of a reckon-written file
# with one bit flipped in its pages (the issue's mutation run, at 16 places spread over them)
# fails with a message naming the file, writes no output, and a flip in page data names the page
# CRC; a file whose footer states another row count than its row groups is refused on open.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$RECKON_BIN" synth tenrec --rows 3001 --seed 7 --na_fraction 0.02 --output "$tmp/t.csv" >/dev/null
"$RECKON_BIN" convert --csv_na_values '\N' "$tmp/t.csv" "$tmp/t.parquet" >/dev/null
expect_status $? 0 "a 3001-row CSV converts to Parquet"

# where the pages end: the footer's length is the 4 bytes before the closing magic
size=$(stat -c %s "$tmp/t.parquet")
footer=$(od -An -tu4 -j $((size - 8)) -N4 "$tmp/t.parquet" | tr -d ' ')
pages_end=$((size - 8 - footer))
refused=0 by_crc=0 written=0
for k in $(seq 1 16); do
  at=$((4 + (pages_end - 4) * k / 17))
  cp "$tmp/t.parquet" "$tmp/bad.parquet"
  byte=$(od -An -tu1 -j $at -N1 "$tmp/bad.parquet" | tr -d ' ')
  printf "$(printf '\\%03o' $((byte ^ 16)))" | dd of="$tmp/bad.parquet" bs=1 seek=$at conv=notrunc status=none
  rm -f "$tmp/bad.csv"
  out=$("$RECKON_BIN" convert "$tmp/bad.parquet" "$tmp/bad.csv" 2>&1)
  [ $? -ne 0 ] && case "$out" in *"bad.parquet"*) refused=$((refused + 1)) ;; esac
  case "$out" in *"page checksum mismatch"*) by_crc=$((by_crc + 1)) ;; esac
  [ -e "$tmp/bad.csv" ] && written=$((written + 1))
done
expect_status $refused 16 "each of 16 single-bit flips in the pages is refused with a message naming the file"
[ $by_crc -ge 8 ] && pass "flips in page data are caught by the page CRC ($by_crc of 16)" \
  || fail "only $by_crc of 16 flips were caught by the page CRC"
expect_status $written 0 "no corrupt file was converted to an output"

# the footer's total row count (its field 3, the first i64 after the schema list) set to 1:
# the file would read as 3001 rows by its row groups, 1 by its footer
python3 - "$tmp/t.parquet" "$tmp/lie.parquet" <<'EOF'
import struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
n = struct.unpack('<I', data[-8:-4])[0]
start = len(data) - 8 - n
foot = data[start:start + n]
rows = bytes([0xF2, 0x2E])   # 3001 as a zigzag varint
at = foot.find(b'\x16' + rows)   # field delta 1, type i64: FileMetaData.num_rows follows the schema (field 2)
assert at >= 0
data[start + at + 1:start + at + 3] = bytes([0x82, 0x00])   # 1, in the same two bytes
open(sys.argv[2], 'wb').write(data)
EOF
out=$("$RECKON_BIN" inspect "$tmp/lie.parquet" 2>&1)
expect_status $? 1 "a footer whose total disagrees with its row groups is refused"
expect_contains "$out" "the footer states 1 rows but its row groups hold 3001" "the message gives both counts"
finish

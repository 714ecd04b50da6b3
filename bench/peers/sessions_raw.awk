# Raw clicks in the YOOCHOOSE layout for bench/sessions_etl.sh and tests/e2e/sessions_peers.sh, when
# `reckon synth sessions` cannot write them: `session_id,timestamp,item_id,category`, no header,
# ISO-8601 UTC times with milliseconds and a Z (2014-04-07T10:51:09.277Z), sessions one after
# another from 2014-04-01 over `days` days, about 5 clicks each (at most 50), items log-uniform
# (a Zipf-like popularity) with a fixed category each, and consecutive repeats of the same item
# (15% of clicks) for the ETL to drop. Deterministic for one awk and seed.
#   awk -v events=N [-v days=30] [-v seed=42] -f bench/peers/sessions_raw.awk > raw.csv
function iso(t, ms,    d, s, z, era, doe, yoe, doy, mp, day, mon, yr) {
  d = int(t / 86400); s = t - d * 86400
  z = d + 719468; era = int(z / 146097); doe = z - era * 146097           # days since 0000-03-01
  yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
  doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100)); mp = int((5 * doy + 2) / 153)
  day = doy - int((153 * mp + 2) / 5) + 1; mon = mp < 10 ? mp + 3 : mp - 9; yr = yoe + era * 400 + (mon <= 2)
  return sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", yr, mon, day, int(s / 3600), int(s % 3600 / 60), s % 60, ms)
}
BEGIN {
  if (days == "") days = 30
  if (seed == "") seed = 42
  srand(seed)
  items = int(events / 100); if (items < 200) items = 200
  origin = 1396310400   # 2014-04-01T00:00:00Z
  for (n = 0; n < events;) {
    sid++
    t = origin + int(rand() * days * 86400)
    len = 1 + int(-log(1 - rand()) * 4); if (len > 50) len = 50
    prev = 0
    for (k = 0; k < len && n < events; k++) {
      item = (prev && rand() < 0.15) ? prev : 1 + int(exp(rand() * log(items)))
      print sid "," iso(t, int(rand() * 1000)) "," item "," 1 + item % 50
      prev = item; n++
      t += 1 + int(-log(1 - rand()) * 60)
    }
  }
}

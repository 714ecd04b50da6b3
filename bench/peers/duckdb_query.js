// DuckDB peer for reckon's tests and benchmarks (not part of reckon itself).
// Runs SQL statements in order in an in-memory DuckDB with a fixed thread count, times the last
// one (best of --repeat runs) and prints {"columns": [...], "rows": [[...]], "best_s": s} as JSON.
// BIGINTs print as strings (exact), non-finite doubles as "nan" / "inf" / "-inf".
// An argument "@file" is a statement read from that file (no shell quoting to get right).
//   NODE_PATH=build/peers/node_modules node bench/peers/duckdb_query.js --threads 2 [--repeat 3] SQL...
const fs = require('fs');
const { DuckDBInstance } = require('@duckdb/node-api');

function parseArgs(argv) {
  const o = { threads: 1, repeat: 1, sql: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--threads') o.threads = Number(argv[++i]);
    else if (argv[i] === '--repeat') o.repeat = Number(argv[++i]);
    else o.sql.push(argv[i].startsWith('@') ? fs.readFileSync(argv[i].slice(1), 'utf8') : argv[i]);
  }
  return o;
}

function plain(v) {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  if (v !== null && typeof v === 'object') return v.toString();
  return v;
}

(async () => {
  const o = parseArgs(process.argv.slice(2));
  const inst = await DuckDBInstance.create(':memory:', { threads: String(o.threads) });
  const con = await inst.connect();
  for (let i = 0; i + 1 < o.sql.length; i++) await con.run(o.sql[i]);
  let best = Infinity, reader = null;
  for (let k = 0; k < o.repeat; k++) {
    const t0 = process.hrtime.bigint();
    reader = await con.runAndReadAll(o.sql[o.sql.length - 1]);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < best) best = s;
  }
  const rows = reader.getRows().map((r) => r.map(plain));
  process.stdout.write(JSON.stringify({ columns: reader.columnNames(), rows, best_s: best }) + '\n');
})().catch((e) => {
  process.stderr.write(String(e && e.message ? e.message : e) + '\n');
  process.exit(1);
});

// DuckDB peer for reckon's tests and benchmarks (not part of reckon itself).
// Runs SQL statements in order in an in-memory DuckDB with a fixed thread count, times the last
// one (best of --repeat runs) and prints {"columns": [...], "rows": [[...]], "best_s": s} as JSON.
// BIGINTs print as strings (exact), non-finite doubles as "nan" / "inf" / "-inf".
// An argument "@file" is a statement read from that file (no shell quoting to get right).
//   NODE_PATH=build/peers/node_modules node bench/peers/duckdb_query.js --threads 2 [--repeat 3] SQL...
// For longer work (bench/peers/preprocess_duckdb.sql):
//   --script FILE   the statements of FILE, in place: each ends with ';' at the end of a line;
//                   lines starting with '--' are comments
//   --var NAME=VAL  '@NAME@' in the statements of later --script files reads VAL
//   --timings       adds "statements_s": [seconds of each statement, in order] after best_s
const fs = require('fs');
const { DuckDBInstance } = require('@duckdb/node-api');

function scriptStatements(text, vars) {
  for (const [k, v] of Object.entries(vars)) text = text.split('@' + k + '@').join(v);
  const out = [];
  let cur = [];
  for (const line of text.split('\n')) {
    if (line.trim().startsWith('--')) continue;
    cur.push(line);
    if (line.trimEnd().endsWith(';')) {
      const s = cur.join('\n').trim();
      if (s !== ';') out.push(s);
      cur = [];
    }
  }
  const rest = cur.join('\n').trim();
  if (rest) out.push(rest);
  return out;
}

function parseArgs(argv) {
  const o = { threads: 1, repeat: 1, timings: false, sql: [] };
  const vars = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--threads') o.threads = Number(argv[++i]);
    else if (argv[i] === '--repeat') o.repeat = Number(argv[++i]);
    else if (argv[i] === '--timings') o.timings = true;
    else if (argv[i] === '--var') {
      const kv = argv[++i], eq = kv.indexOf('=');
      if (eq < 1) throw new Error(`--var wants NAME=VALUE, not ${kv}`);
      vars[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (argv[i] === '--script') o.sql.push(...scriptStatements(fs.readFileSync(argv[++i], 'utf8'), vars));
    else o.sql.push(argv[i].startsWith('@') ? fs.readFileSync(argv[i].slice(1), 'utf8') : argv[i]);
  }
  if (o.sql.length === 0) throw new Error('no SQL given');
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
  const times = [];
  for (let i = 0; i + 1 < o.sql.length; i++) {
    const t0 = process.hrtime.bigint();
    await con.run(o.sql[i]);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  let best = Infinity, reader = null;
  for (let k = 0; k < o.repeat; k++) {
    const t0 = process.hrtime.bigint();
    reader = await con.runAndReadAll(o.sql[o.sql.length - 1]);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < best) best = s;
  }
  times.push(best);
  const rows = reader.getRows().map((r) => r.map(plain));
  const out = { columns: reader.columnNames(), rows, best_s: best };
  if (o.timings) out.statements_s = times.map((s) => Number(s.toFixed(4)));
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  process.stderr.write(String(e && e.message ? e.message : e) + '\n');
  process.exit(1);
});

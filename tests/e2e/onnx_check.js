// Runs an ONNX model from `reckon export --format onnx` in ONNX Runtime (npm onnxruntime-node) on
// the rows of a CSV file and compares its outputs with the CSV's expected columns.
//   node onnx_check.js MODEL.onnx ROWS.csv [ATOL]
// ROWS.csv: a header, then one row per example. Each model input is read from the column of its
// name, as the model declares it: int64 or float32, shape (rows, W) with W values separated by
// spaces in each field (W = 1: one value; a padded list: L ids, a padded session list: T values).
// An empty field is 0 (a null id, as reckon's feed makes it). Each model output (rows, W)
// is compared with the column of its name (W values per field): the largest |difference| is
// printed, and the exit status is 1 when it exceeds ATOL (1e-5), 2 on bad usage, a missing
// column or a field of the wrong width.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function die(msg) { console.error(`onnx_check: ${msg}`); process.exit(2); }

const tokens = (field) => field.trim().split(/\s+/).filter((t) => t !== '');

function readCsv(path) {
  const lines = fs.readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
  const unquote = (f) => (f.length >= 2 && f[0] === '"' && f[f.length - 1] === '"' ? f.slice(1, -1) : f);
  const header = lines[0].split(',').map(unquote);
  const rows = lines.slice(1).map((l) => l.split(',').map(unquote));
  const column = (name) => {
    const k = header.indexOf(name);
    if (k < 0) die(`'${path}' has no column '${name}' (it has ${header.join(', ')})`);
    return rows.map((r) => r[k]);
  };
  return { n: rows.length, column };
}

async function main() {
  const [modelPath, csvPath, atolText] = process.argv.slice(2);
  if (!modelPath || !csvPath) die('usage: node onnx_check.js MODEL.onnx ROWS.csv [ATOL]');
  const atol = atolText ? Number(atolText) : 1e-5;
  const session = await ort.InferenceSession.create(modelPath);
  const csv = readCsv(csvPath);
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : null;
    const width = meta && typeof meta.shape[1] === 'number' ? meta.shape[1] : 1;
    const float = meta ? meta.type === 'float32' : false;
    const flat = [];
    csv.column(name).forEach((field, r) => {
      const t = tokens(field);
      if (t.length === 0 && width === 1) t.push('0');
      if (t.length !== width) die(`column '${name}' row ${r} holds ${t.length} values; the model takes ${width}`);
      for (const x of t) flat.push(float ? Number(x) : BigInt(x));
    });
    feeds[name] = float ? new ort.Tensor('float32', Float32Array.from(flat), [csv.n, width])
                        : new ort.Tensor('int64', BigInt64Array.from(flat), [csv.n, width]);
  }
  const out = await session.run(feeds);
  let worst = 0, where = '';
  for (const name of session.outputNames) {
    const got = out[name].data, want = csv.column(name), width = got.length / csv.n;
    for (let r = 0; r < csv.n; r++) {
      const w = tokens(want[r]);
      if (w.length !== width) die(`column '${name}' row ${r} holds ${w.length} values; the model gives ${width}`);
      for (let j = 0; j < width; j++) {
        const d = Math.abs(got[r * width + j] - Number(w[j]));
        if (Number.isNaN(worst)) break;   // a NaN stays the verdict
        if (!(d <= worst)) { worst = d; where = `${name} row ${r} value ${j}: onnx ${got[r * width + j]}, reckon ${w[j]}`; }
      }
    }
  }
  console.log(`onnx_check: ${csv.n} rows, outputs ${session.outputNames.join(', ')}: max |diff| ${worst.toExponential(2)}` +
              (where ? ` (${where})` : ''));
  process.exit(worst <= atol ? 0 : 1);
}

main().catch((e) => { console.error(`onnx_check: ${e.message}`); process.exit(2); });

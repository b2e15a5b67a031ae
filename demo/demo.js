// The demo page: draws text on a canvas, turns it into PP-OCRv4's input tensor [1, 3, 48, W], runs it through
// window.webq, and decodes the CTC output with the model's character list. Plain script, no build step.
const $ = (id) => document.getElementById(id);
const MODEL = new URL('./models/ppocr_rec.onnx', location.href).href;
let alphabet = null;

function draw(text) {
  const canvas = $('canvas');
  const ctx = canvas.getContext('2d');
  ctx.font = '32px DejaVu Sans, Arial, sans-serif';
  canvas.width = Math.max(64, Math.ceil(ctx.measureText(text).width) + 16);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#000';
  ctx.font = '32px DejaVu Sans, Arial, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, 8, 25);
  const { data, width, height } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const x = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < width * height; i++) x[c * width * height + i] = (data[i * 4 + c] / 255 - 0.5) / 0.5;
  return { type: 'float32', data: x, dims: [1, 3, height, width] };
}

function decode(y) {
  const [, steps, classes] = y.dims;
  let text = '';
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (y.data[t * classes + c] > y.data[t * classes + best]) best = c;
    if (best !== previous && best !== 0) text += alphabet[best] ?? '?';
    previous = best;
  }
  return text;
}

function showMetrics(m) {
  const rows = [
    ['backend', m.backend],
    [
      'weights',
      m.quantizationBits === 32
        ? 'fp32'
        : `${m.quantizationBits}-bit ${m.quantizationScheme ?? ''}${m.mixedPrecision ? ', mixed precision' : ''}`,
    ],
    ['inference', `${m.inferenceTimeMs.toFixed(1)} ms`],
    ['total (messaging included)', `${m.totalTimeMs.toFixed(1)} ms`],
    ['load', m.loadTimeMs === undefined ? '(already loaded)' : `${m.loadTimeMs.toFixed(0)} ms`],
    [
      'weight bytes',
      `${(m.modelBytes / 1e6).toFixed(2)} MB of ${(m.originalBytes / 1e6).toFixed(2)} MB at fp32 (−${m.memoryReductionPercent.toFixed(1)}%)`,
    ],
    ['browser, profile', `${m.browser}, ${m.profile}`],
    ['fallbacks', m.fallbacks.length ? m.fallbacks.join('; ') : 'none'],
  ];
  $('metrics').replaceChildren(
    ...rows.map(([k, v]) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.textContent = k;
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(th, td);
      return tr;
    }),
  );
}

async function read() {
  const status = $('status');
  status.className = '';
  if (!window.webq) {
    status.textContent = 'window.webq is missing: is the webq extension loaded?';
    status.className = 'error';
    return;
  }
  try {
    alphabet ??= [
      '',
      ...(await (await fetch('./models/ppocr_keys_v1.txt')).text())
        .split('\n')
        .filter((k, i, a) => i < a.length - 1 || k),
      ' ',
    ];
    const bits = Number($('bits').value);
    const options = {
      backend: $('backend').value,
      onProgress: (p) => {
        status.textContent = `${p.phase}: ${p.loaded} / ${p.total}`;
      },
    };
    if (bits !== 32) Object.assign(options, { bits, scheme: 'symmetric', groupSize: 32, mixedPrecision: bits === 2 });
    status.textContent = 'Running…';
    const result = await window.webq.run(MODEL, { x: draw($('text').value) }, options);
    $('result').textContent = decode(result.output['softmax_11.tmp_0']);
    showMetrics(result.performanceMetrics);
    status.textContent = 'Done.';
    document.body.dataset.demoState = 'done';
  } catch (err) {
    status.textContent = `${err.name}: ${err.message}`;
    status.className = 'error';
    document.body.dataset.demoState = 'error';
  }
}

$('run').addEventListener('click', read);
draw($('text').value);
if (window.webq) $('status').textContent = `webq ${window.webq.version} is here. Press “Read the text”.`;
if (new URLSearchParams(location.search).has('autorun')) read();

// The page side of `webq check`: plain browser JavaScript, served next to the check page and loaded with a
// <script> tag. It is a file rather than functions passed to page.evaluate because tsx (esbuild) wraps named
// functions in `__name(...)` helpers that do not exist in the page. Tensors cross to and from Node as base64
// of their raw little-endian bytes: a 1 MB Float32Array is 1.3 MB of text instead of ~10 MB of JSON numbers.
(() => {
  const ARRAYS = {
    float32: Float32Array,
    float16: Uint16Array,
    int64: BigInt64Array,
    int32: Int32Array,
    int8: Int8Array,
    uint8: Uint8Array,
    bool: Uint8Array,
  };

  const fromWire = (t) => {
    const bin = atob(t.b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return { type: t.type, dims: t.dims, data: new ARRAYS[t.type](bytes.buffer) };
  };

  const toBase64 = (view) => {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000)
      bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(bin);
  };

  // Errors are returned, not thrown: page.evaluate would keep only the message, and the CLI needs the name.
  const settle = (promise) =>
    promise.then(
      (value) => ({ ok: true, value }),
      (e) => ({ ok: false, error: { name: String(e && e.name), message: String(e && e.message) } }),
    );

  const progress = (p) =>
    console.log(`[webq-check] ${JSON.stringify({ phase: p.phase, loaded: p.loaded, total: p.total })}`);

  const taskInput = (input) => {
    if ('text' in input) return input.text;
    if ('messages' in input) return { messages: input.messages };
    const bytes = Uint8Array.from(atob((input.image ?? input.audio).b64), (c) => c.charCodeAt(0));
    if (input.image) return new Blob([bytes], { type: input.image.type });
    return { audio: new Float32Array(bytes.buffer), sampleRate: input.audio.sampleRate };
  };

  const runTask = async (id, options, plan) => {
    const input = taskInput(plan.input);
    const times = [];
    let last = null;
    for (let pass = 0; pass < plan.passes; pass++) {
      last = await window.webq.run(id, input, { ...options, ...plan.options });
      times.push(last.performanceMetrics.inferenceTimeMs);
    }
    const outputs = {};
    for (const key of plan.keep) {
      const v = last.output[key];
      outputs[key] = ArrayBuffer.isView(v) ? { type: 'float32', dims: [v.length], b64: toBase64(v) } : v;
    }
    return { times, outputs, metrics: last.performanceMetrics };
  };

  window.webqCheck = {
    capabilities: () => settle(window.webq.capabilities()),

    load: (url, options) =>
      settle(
        (async () => {
          const started = performance.now();
          const info = await window.webq.load(url, { ...options, onProgress: progress });
          return { info, loadMs: performance.now() - started };
        })(),
      ),

    unload: (url) => settle(window.webq.unload(url)),

    // A registry id (plan.kind 'task'): one webq.run(id, input) per pass, the task's input built here as a page
    // builds it; the fields of the last output named in `keep` go back, typed arrays as base64 float32.
    // Raw tensors (plan.kind 'tensors'): one pass = every step in order, outputs named in `carry` fed to the next
    // step (recurrent state). The outputs of the last pass are returned, concatenated step after step.
    // Times are per pass, as the engine measured them (performanceMetrics.inferenceTimeMs).
    run: (url, options, plan) =>
      settle(
        plan.kind === 'task'
          ? runTask(url, options, plan)
          : (async () => {
              const steps = plan.steps.map((s) =>
                Object.fromEntries(Object.entries(s).map(([k, t]) => [k, fromWire(t)])),
              );
              const times = [];
              let collected = {};
              let metrics = null;
              for (let pass = 0; pass < plan.passes; pass++) {
                let carried = {};
                let total = 0;
                collected = {};
                for (const feeds of steps) {
                  const res = await window.webq.run(url, { ...feeds, ...carried }, options);
                  total += res.performanceMetrics.inferenceTimeMs;
                  metrics = res.performanceMetrics;
                  carried = {};
                  for (const [from, to] of Object.entries(plan.carry)) carried[to] = res.output[from];
                  for (const [name, t] of Object.entries(res.output)) {
                    if (plan.collect && !plan.collect.includes(name)) continue;
                    (collected[name] ??= { type: t.type, dims: t.dims, parts: [] }).parts.push(t.data);
                  }
                }
                times.push(total);
              }
              const outputs = {};
              for (const [name, c] of Object.entries(collected)) {
                const length = c.parts.reduce((n, p) => n + p.length, 0);
                const all = new c.parts[0].constructor(length);
                let at = 0;
                for (const p of c.parts) {
                  all.set(p, at);
                  at += p.length;
                }
                outputs[name] = { type: c.type, dims: c.dims, b64: toBase64(all) };
              }
              return { times, outputs, metrics };
            })(),
      ),
  };
})();

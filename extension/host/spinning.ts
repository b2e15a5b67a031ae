/**
 * Session options that stop onnxruntime's intra-op threads spinning once a run is over. By default they spin after
 * each run, waiting for more work; the engine host runs one call at a time with gaps between them (the reply's
 * messaging, the page's next call), so a spinning thread only takes a core from the work that follows and burns it
 * while the engine is idle. Inside a run the threads still spin between parallel sections. The bench's page
 * baselines use the same options (bench/page/baseline.ts), so both sides run onnxruntime alike. Figures in
 * docs/architecture.md ("What the hops cost").
 */
export const STOP_SPINNING_AFTER_RUNS = { session: { force_spinning_stop: '1' } } as const;

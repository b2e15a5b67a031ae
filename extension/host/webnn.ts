/**
 * The host's WebNN MLContext, per device type, created on first use. Debian's Chromium exposes navigator.ml
 * but refuses createContext ("not supported on this platform"): that refusal is reported, not hidden.
 */
export type WebnnDevice = 'cpu' | 'gpu' | 'npu';
export interface WebnnContext {
  context: unknown;
  deviceType: WebnnDevice;
}

interface ML {
  createContext(options?: { deviceType?: WebnnDevice }): Promise<unknown>;
}

const contexts = new Map<WebnnDevice, Promise<WebnnContext>>();

export function getWebnn(deviceType: WebnnDevice): Promise<WebnnContext> {
  let pending = contexts.get(deviceType);
  if (!pending) {
    pending = (async () => {
      const ml = (globalThis.navigator as unknown as { ml?: ML } | undefined)?.ml;
      if (!ml) throw new Error('navigator.ml is absent (WebNN is not enabled in this browser)');
      // Chromium takes deviceType in the options; the context is what ORT's WebNN EP builds on.
      const context = await ml.createContext({ deviceType });
      return { context, deviceType };
    })();
    // A refusal is kept too: it does not change while the browser runs, and `auto` asks on every request.
    pending.catch(() => undefined);
    contexts.set(deviceType, pending);
  }
  return pending;
}

/** { available, reason } for capabilities(): can a context be made at all? */
export async function webnnStatus(deviceType: WebnnDevice = 'gpu'): Promise<{ available: boolean; reason?: string }> {
  try {
    await getWebnn(deviceType);
    return { available: true };
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
}

/**
 * The lowest weight precision this WebNN context runs: 4 where `opSupportLimits()` lists int4/uint4 for
 * dequantizeLinear, else 8 (WebNN has no 2-bit; SPEC §2 says what falls back to what).
 */
export async function webnnMinBits(deviceType: WebnnDevice): Promise<4 | 8> {
  const { context } = await getWebnn(deviceType);
  const limits = (
    context as { opSupportLimits?: () => Record<string, { input?: { dataTypes?: string[] } } | undefined> }
  ).opSupportLimits?.();
  const types = limits?.dequantizeLinear?.input?.dataTypes ?? [];
  return types.includes('int4') || types.includes('uint4') ? 4 : 8;
}

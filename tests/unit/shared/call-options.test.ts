/**
 * SPEC §2 "An unknown option … rejects with DataError naming it" for the methods that take only `signal` and
 * `onProgress`: capabilities() and unload(). The page client checks before anything is sent.
 */
import { describe, expect, it } from 'vitest';
import { checkCallOnlyOptions } from '../../../extension/shared/options';
import { createWebq } from '../../../extension/page/client';
import type { Link } from '../../../extension/shared/link';
import type { ClientMessage } from '../../../extension/shared/protocol';

describe('checkCallOnlyOptions', () => {
  it.each([undefined, null, {}, { signal: new AbortController().signal }, { onProgress: () => undefined }])(
    'accepts %j',
    (raw) => {
      expect(() => checkCallOnlyOptions(raw, 'unload')).not.toThrow();
    },
  );

  it.each<[unknown, RegExp]>([
    [{ bits: 4 }, /option "bits" does not apply to unload\(\); it takes only signal and onProgress/],
    [{ signal: undefined, nonsense: 1 }, /option "nonsense" does not apply to unload\(\)/],
    [{ use_quantization: true }, /option "use_quantization"/],
    ['fast', /options must be an object, got "fast"/],
    [[1], /options must be an object/],
  ])('rejects %j with DataError naming it', (raw, message) => {
    let error: unknown;
    try {
      checkCallOnlyOptions(raw, 'unload');
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'DataError', message: expect.stringMatching(message) });
  });
});

describe('the page client', () => {
  const client = () => {
    const sent: ClientMessage[] = [];
    const transport: Link = {
      send: (m) => {
        sent.push(m);
      },
      listen: () => undefined,
    };
    return { webq: createWebq(transport, '0.0.0-test'), sent };
  };

  it.each(['capabilities', 'unload'] as const)(
    '%s rejects an unknown option with DataError and sends nothing',
    async (method) => {
      const { webq, sent } = client();
      const call =
        method === 'capabilities'
          ? webq.capabilities({ backend: 'wasm' } as never)
          : webq.unload('bert-base-uncased', { backend: 'wasm' } as never);
      await expect(call).rejects.toMatchObject({
        name: 'DataError',
        message: expect.stringMatching(new RegExp(`"backend" does not apply to ${method}\\(\\)`)),
      });
      expect(sent).toEqual([]);
    },
  );

  it('capabilities and unload with only signal are sent', async () => {
    const { webq, sent } = client();
    const signal = new AbortController().signal;
    void webq.capabilities({ signal });
    void webq.unload('bert-base-uncased', { signal });
    await expect
      .poll(() => sent.map((m) => (m.type === 'request' ? m.method : m.type)))
      .toEqual(['capabilities', 'unload']);
  });
});

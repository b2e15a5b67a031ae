/** The client's choice of host: the extension's `window.webq` only when it is real and speaks a compatible version. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CLIENT_BRAND, compatibleVersions, detectExtension } from '../../../packages/client/src/detect';
import { checkClientOptions } from '../../../packages/client/src/options';

const fakeWebq = (version: unknown) => ({ webq: { version, run: () => undefined } });

describe('compatibleVersions', () => {
  it('same major (and minor while the major is 0)', () => {
    expect(compatibleVersions('0.1.0', '0.1.7')).toBe(true);
    expect(compatibleVersions('0.1.0', '0.2.0')).toBe(false);
    expect(compatibleVersions('1.2.0', '1.9.3')).toBe(true);
    expect(compatibleVersions('1.2.0', '2.0.0')).toBe(false);
    expect(compatibleVersions('1.2.0', 'one')).toBe(false);
  });
});

describe('detectExtension', () => {
  it('takes a compatible window.webq', () => {
    expect(detectExtension('0.1.0', fakeWebq('0.1.3')).webq).not.toBeNull();
  });
  it('says why it falls back', () => {
    expect(detectExtension('0.1.0', {}).reason).toMatch(/not installed/);
    expect(detectExtension('0.1.0', { webq: 'x' }).reason).toMatch(/not the webq extension/);
    expect(detectExtension('0.1.0', fakeWebq(3)).reason).toMatch(/not the webq extension/);
    expect(detectExtension('0.1.0', fakeWebq('0.2.0')).reason).toMatch(/version 0\.2\.0/);
  });
  it('never takes a client set as window.webq for the extension (it would forward calls to itself)', () => {
    const client = { ...fakeWebq('0.1.0').webq, [Symbol.for('@webq/client')]: true };
    expect(CLIENT_BRAND).toBe(Symbol.for('@webq/client')); // shared by every copy of the package in a page
    expect(detectExtension('0.1.0', { webq: client })).toEqual({
      webq: null,
      reason: 'window.webq is a @webq/client client, not the webq extension',
    });
  });
});

describe('checkClientOptions', () => {
  it('names the field it refuses', () => {
    expect(checkClientOptions(undefined)).toEqual({ host: 'auto' });
    expect(() => checkClientOptions({ host: 'cloud' })).toThrow(/host/);
    expect(() => checkClientOptions({ modelHost: 5 })).toThrow(/modelHost/);
    expect(() => checkClientOptions({ wasmPath: 'x' })).toThrow(/"wasmPath" is unknown/);
    expect(() => checkClientOptions(null)).toThrow(/object/);
    try {
      checkClientOptions({ host: 'x' });
    } catch (err) {
      expect((err as Error).name).toBe('DataError');
    }
    expect(checkClientOptions({ host: 'page', wasmUrl: 'https://cdn.example/ort.wasm' })).toEqual({
      host: 'page',
      modelHost: undefined,
      wasmUrl: 'https://cdn.example/ort.wasm',
    });
  });
});

describe('versions', () => {
  it('the package and the extension are released together (same version)', () => {
    const root = JSON.parse(readFileSync('package.json', 'utf8')).version;
    expect(JSON.parse(readFileSync('packages/client/package.json', 'utf8')).version).toBe(root);
  });
});

import { describe, expect, it } from 'vitest';
import { checkModelUrl, corsAllows, isLocalHost } from '../../../extension/host/url-rule';

const page = (origin: string) => ({ origin, page: true });
const user = { origin: 'chrome-extension://abc', page: false };
const allowed = (url: string, who: { origin: string; page: boolean }) => {
  try {
    checkModelUrl(url, who);
    return true;
  } catch (err) {
    return (err as Error).name;
  }
};

describe('which hosts are local (refused to pages not on loopback)', () => {
  it('loopback, private, link-local, CGNAT, unspecified, multicast, IPv6 local and mapped, single-label, local suffixes', () => {
    for (const host of [
      'localhost',
      '127.0.0.1',
      '127.8.9.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '[::1]',
      '[::]',
      '[fd00::1]',
      '[fe80::1]',
      '[::ffff:a00:1]',
      'intranet',
      'printer',
      'nas.local',
      'app.localhost',
      'db.internal',
      'router.home.arpa',
      'wiki.corp',
    ]) {
      expect(isLocalHost(new URL(`http://${host}/`).hostname), host).toBe(true);
    }
  });

  it('public names and addresses are not', () => {
    for (const host of [
      'huggingface.co',
      'cdn.example.com',
      '8.8.8.8',
      '172.32.0.1',
      '192.169.0.1',
      '[2001:db8::1]',
      'example.com.',
    ]) {
      expect(isLocalHost(new URL(`https://${host}/`).hostname), host).toBe(false);
    }
  });

  it('every IPv4 spelling is normalised by the URL parser first (hex, octal, one number)', () => {
    for (const spelling of ['0x7f.1', '0177.0.0.1', '2130706433', '0xa000001']) {
      expect(isLocalHost(new URL(`http://${spelling}/`).hostname), spelling).toBe(true);
    }
  });
});

describe('checkModelUrl', () => {
  it('a public page: https on public hosts and its own origin; nothing local, no plain http elsewhere', () => {
    const p = page('https://site.example');
    expect(allowed('https://cdn.example/m.onnx', p)).toBe(true);
    expect(allowed('https://site.example/m.onnx', p)).toBe(true);
    expect(allowed('http://cdn.example/m.onnx', p)).toBe('NotAllowedError');
    for (const url of [
      'http://localhost:8080/m.onnx',
      'https://127.0.0.1/m.onnx',
      'https://10.0.0.5/m.onnx',
      'https://intranet/m.onnx',
      'https://192.168.0.1/m',
      'https://[::1]/m',
      'https://nas.local/m',
      'https://169.254.169.254/latest/meta-data',
    ]) {
      expect(allowed(url, p), url).toBe('NotAllowedError');
    }
  });

  it('a page on loopback (a developer machine) may also use loopback, plain http only on the three loopback names', () => {
    const p = page('http://127.0.0.1:5173');
    expect(allowed('http://localhost:8080/m.onnx', p)).toBe(true);
    expect(allowed('http://[::1]:8080/m.onnx', p)).toBe(true);
    expect(allowed('https://10.0.0.5/m.onnx', p)).toBe(true);
    expect(allowed('http://127.0.0.2/m.onnx', p)).toBe('NotAllowedError');
    expect(allowed('http://0.0.0.0/m.onnx', p)).toBe('NotAllowedError');
  });

  it('an intranet page may use its own origin (it can read that itself), nothing else local', () => {
    const p = page('http://intranet:8080');
    expect(allowed('http://intranet:8080/m.onnx', p)).toBe(true);
    expect(allowed('http://intranet:9090/m.onnx', p)).toBe('NotAllowedError');
    expect(allowed('http://localhost/m.onnx', p)).toBe('NotAllowedError');
  });

  it('the user (extension pages, the model host) may use any https and loopback http', () => {
    expect(allowed('https://10.0.0.5/m.onnx', user)).toBe(true);
    expect(allowed('http://localhost:1234/m.onnx', user)).toBe(true);
    expect(allowed('http://10.0.0.5/m.onnx', user)).toBe('NotAllowedError');
  });

  it('refuses credentials, other schemes, and says DataError for what is not a URL', () => {
    const p = page('https://site.example');
    for (const url of [
      'https://u:p@cdn.example/m',
      'ftp://cdn.example/m',
      'file:///etc/passwd',
      'data:,x',
      'blob:https://site.example/x',
    ]) {
      expect(allowed(url, p), url).toBe('NotAllowedError');
    }
    expect(allowed('not a url', p)).toBe('DataError');
  });
});

describe('corsAllows', () => {
  const response = (url: string, acao?: string) => ({
    url,
    headers: new Headers(acao === undefined ? {} : { 'access-control-allow-origin': acao }),
  });
  it('same origin, *, or exactly the page origin; nothing else', () => {
    expect(corsAllows(response('https://site.example/m'), 'https://site.example')).toBe(true);
    expect(corsAllows(response('https://cdn.example/m', '*'), 'https://site.example')).toBe(true);
    expect(corsAllows(response('https://cdn.example/m', 'https://site.example'), 'https://site.example')).toBe(true);
    expect(corsAllows(response('https://cdn.example/m'), 'https://site.example')).toBe(false);
    expect(corsAllows(response('https://cdn.example/m', 'https://other.example'), 'https://site.example')).toBe(false);
    expect(corsAllows(response('https://cdn.example/m', 'null'), 'https://site.example')).toBe(false);
  });
});

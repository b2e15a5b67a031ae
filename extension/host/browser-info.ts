/** Which browser the engine host runs in, from the user agent (brands first where the browser has them). */
export interface BrowserInfo {
  name: 'chrome' | 'edge' | 'firefox' | 'safari' | 'unknown';
  version: string;
}

export function browserInfo(ua = globalThis.navigator?.userAgent ?? ''): BrowserInfo {
  const match = (re: RegExp) => ua.match(re)?.[1];
  const edge = match(/Edg\/([\d.]+)/);
  if (edge) return { name: 'edge', version: edge };
  const firefox = match(/Firefox\/([\d.]+)/);
  if (firefox) return { name: 'firefox', version: firefox };
  const chrome = match(/(?:HeadlessChrome|Chrome|Chromium)\/([\d.]+)/);
  if (chrome) return { name: 'chrome', version: chrome };
  const safari = match(/Version\/([\d.]+).*Safari/);
  if (safari) return { name: 'safari', version: safari };
  return { name: 'unknown', version: '' };
}

/** callerOf (shared/caller.ts): who is behind a port, from the browser's sender only. */
import { describe, expect, it } from 'vitest';
import { callerOf } from '../../../extension/shared/caller';
import { DIRECT_PORT, ENGINE_PORT, PAGE_PORT, UI_PORT } from '../../../extension/shared/ports';

// Node's URL gives chrome-extension: URLs an opaque origin (browsers do not), so the extension stands on https here.
const extension = { id: 'ext', origin: 'https://ext.invalid' };
const tab = (url: string) => ({ id: 4, url });

describe('callerOf', () => {
  it('a content script in a tab: its frame origin, the tab, and the top-level origin as partition', () => {
    const sender = {
      id: 'ext',
      url: 'https://frame.test/x',
      origin: 'https://frame.test',
      tab: tab('https://top.test/'),
    };
    const expected = { origin: 'https://frame.test', tabId: 4, topOrigin: 'https://top.test' };
    expect(callerOf(PAGE_PORT, sender, extension)).toEqual(expected);
    expect(callerOf(DIRECT_PORT, sender, extension)).toEqual(expected);
  });

  it('the origin comes from the URL when the browser gives none (Firefox); an opaque top is the frame itself', () => {
    expect(
      callerOf(PAGE_PORT, { id: 'ext', url: 'https://a.test/p', tab: tab('data:text/html,x') }, extension),
    ).toEqual({ origin: 'https://a.test', tabId: 4, topOrigin: 'https://a.test' });
  });

  it('refuses other extensions, opaque origins, ports without a tab and unknown port names', () => {
    const page = { id: 'ext', url: 'https://a.test/', tab: tab('https://a.test/') };
    expect(callerOf(PAGE_PORT, { ...page, id: 'other' }, extension)).toBeNull();
    expect(callerOf(PAGE_PORT, { ...page, origin: 'null' }, extension)).toBeNull();
    expect(callerOf(DIRECT_PORT, { id: 'ext', url: 'https://a.test/' }, extension)).toBeNull();
    expect(callerOf(ENGINE_PORT, page, extension)).toBeNull();
    expect(callerOf(PAGE_PORT, undefined, extension)).toBeNull();
    // The extension's own pages are not web pages, even in a tab.
    expect(
      callerOf(PAGE_PORT, { id: 'ext', url: 'https://ext.invalid/options.html', tab: tab('x') }, extension),
    ).toBeNull();
  });

  it("the UI port: only the extension's own pages, as the extension's origin", () => {
    expect(callerOf(UI_PORT, { id: 'ext', url: 'https://ext.invalid/popup.html' }, extension)).toEqual({
      origin: 'https://ext.invalid',
    });
    expect(callerOf(UI_PORT, { id: 'ext', url: 'https://a.test/', tab: tab('https://a.test/') }, extension)).toBeNull();
  });
});

/**
 * The options page's "window.LanguageModel" switch (SPEC §8, off by default): while it is on, a MAIN-world script
 * (page/language-model-global.iife.ts) is registered for every page, so it runs at document_start like
 * webq.iife.ts; while it is off, none is. A registered script persists across browser restarts; the background also
 * syncs at its start, so the registration always follows the stored setting (after an update, a cleared profile).
 */
/// <reference types="@crxjs/vite-plugin/client" />
import browser from 'webextension-polyfill';
import scriptFile from '../page/language-model-global.iife.ts?script&iife';
import { readSetting, writeSetting } from '../storage/settings';

const SETTING = 'languageModelGlobal';
const SCRIPT_ID = 'webq-language-model-global';

/** Whether pages without a Prompt API of their own get webq's as `window.LanguageModel`. */
export async function languageModelGlobal(): Promise<boolean> {
  return (await readSetting(SETTING)) === true;
}

/** Stores the switch and registers or unregisters the script to match; pages opened after it see the change. */
export async function setLanguageModelGlobal(on: boolean): Promise<void> {
  await writeSetting(SETTING, on ? true : undefined);
  await syncLanguageModelGlobal();
}

export async function syncLanguageModelGlobal(): Promise<void> {
  const wanted = await languageModelGlobal();
  const registered = await browser.scripting.getRegisteredContentScripts({ ids: [SCRIPT_ID] });
  if (wanted && registered.length === 0) {
    // MAIN world: Chrome 111+, Firefox 128+ (the manifest's minimum versions are above both). The path from the
    // extension's root: Firefox resolves a relative one against the calling page (options/…), Chrome against the root.
    await browser.scripting.registerContentScripts([
      { id: SCRIPT_ID, matches: ['<all_urls>'], js: [`/${scriptFile}`], runAt: 'document_start', world: 'MAIN' },
    ]);
  } else if (!wanted && registered.length > 0) {
    await browser.scripting.unregisterContentScripts({ ids: [SCRIPT_ID] });
  }
}

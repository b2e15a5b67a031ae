/** Options page: sites (consent), the model cache, and settings. */
import { renderCache, wireCache } from './cache-panel';
import { renderSettings, wireSettings } from './settings-panel';
import { renderSites } from './sites';

wireCache();
// A new budget changes the cache's "of the … budget" line.
wireSettings(() => void renderCache());
void renderSites();
void renderCache();
void renderSettings();

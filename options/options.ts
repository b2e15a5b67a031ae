/** Options page: sites (consent), the model cache, settings and calibration. */
import { renderCache, wireCache } from './cache-panel';
import { wireCalibrate } from './calibrate-panel';
import { renderSettings, wireSettings } from './settings-panel';
import { renderSites } from './sites';

wireCache();
// A new budget changes the cache's "of the … budget" line.
wireSettings(() => void renderCache());
wireCalibrate();
void renderSites();
void renderCache();
void renderSettings();

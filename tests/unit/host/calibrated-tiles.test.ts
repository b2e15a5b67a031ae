/** The stored calibration (extension/host/calibrate.ts) feeds webq's decode engine only on the adapter it measured. */
import { describe, expect, it } from 'vitest';
import { calibratedTiles } from '../../../extension/host/calibrate';

const stored = {
  adapter: 'google/swiftshader/-/-',
  measuredAt: '2026-12-06T00:00:00Z',
  shape: { bits: 4, K: 256, N: 256, gemmRows: 8 },
  gemv: { best: { workgroupSize: [8, 32, 1], subgroups: true }, ms: 1, candidates: [] },
  gemm: { best: { workgroupSize: [16, 4, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 32 }, ms: 2, candidates: [] },
};

describe('calibratedTiles', () => {
  it("gives the calibration's best GEMV and GEMM tiles on the adapter it measured", () => {
    expect(calibratedTiles(stored, 'google/swiftshader/-/-')).toEqual({
      gemv: { workgroupSize: [8, 32, 1], subgroups: true },
      gemm: { workgroupSize: [16, 4, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 32 },
    });
  });

  it('keeps an unstaged GEMM (no workgroup memory) as it was measured', () => {
    const unstaged = { stage: false, workgroupSize: [4, 1, 1], rowsPerThread: 16, colsPerThread: 8 };
    const tiles = calibratedTiles({ ...stored, gemm: { ...stored.gemm, best: unstaged } }, 'google/swiftshader/-/-');
    expect(tiles?.gemm).toEqual(unstaged);
  });

  it('gives nothing for another adapter, no calibration, or a value that does not read as one', () => {
    expect(calibratedTiles(stored, 'nvidia/hopper/-/-')).toBeUndefined();
    expect(calibratedTiles(undefined, 'google/swiftshader/-/-')).toBeUndefined();
    const broken = { ...stored, gemv: { best: { workgroupSize: [8, 0, 1] } } };
    expect(calibratedTiles(broken, 'google/swiftshader/-/-')).toBeUndefined();
    expect(calibratedTiles({ adapter: 'google/swiftshader/-/-' }, 'google/swiftshader/-/-')).toBeUndefined();
  });
});

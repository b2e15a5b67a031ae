/**
 * A text line drawn with a 5×7 bitmap font, as PP-OCR's recognizer wants it: [1, 3, 48, W], dark
 * glyphs on white, normalised to (v / 255 - 0.5) / 0.5. Lets the rewrite tests read real text
 * without an image library.
 */
const FONT: Record<string, string[]> = {
  H: ['10001', '10001', '10001', '11111', '10001', '10001', '10001'],
  E: ['11111', '10000', '10000', '11110', '10000', '10000', '11111'],
  L: ['10000', '10000', '10000', '10000', '10000', '10000', '11111'],
  O: ['01110', '10001', '10001', '10001', '10001', '10001', '01110'],
  W: ['10001', '10001', '10001', '10101', '10101', '10101', '01010'],
  R: ['11110', '10001', '10001', '11110', '10100', '10010', '10001'],
  D: ['11110', '10001', '10001', '10001', '10001', '10001', '11110'],
  T: ['11111', '00100', '00100', '00100', '00100', '00100', '00100'],
  A: ['01110', '10001', '10001', '11111', '10001', '10001', '10001'],
  '0': ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  '1': ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  '2': ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  '4': ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  '7': ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  ' ': ['00000', '00000', '00000', '00000', '00000', '00000', '00000'],
};

export function textImage(text: string, width = 320, scale = 4): { data: Float32Array; dims: number[] } {
  const height = 48;
  const pixels = new Float32Array(height * width).fill(255);
  const top = Math.floor((height - 7 * scale) / 2);
  let x0 = 8;
  for (const ch of text) {
    const glyph = FONT[ch];
    if (!glyph) throw new Error(`no glyph for ${ch}`);
    glyph.forEach((row, gy) => {
      for (let gx = 0; gx < 5; gx++) {
        if (row[gx] !== '1') continue;
        for (let dy = 0; dy < scale; dy++)
          for (let dx = 0; dx < scale; dx++) {
            const x = x0 + gx * scale + dx,
              y = top + gy * scale + dy;
            if (x < width) pixels[y * width + x] = 0;
          }
      }
    });
    x0 += 6 * scale;
  }
  const data = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < height * width; i++) data[c * height * width + i] = (pixels[i]! / 255 - 0.5) / 0.5;
  return { data, dims: [1, 3, height, width] };
}

/** Greedy CTC decoding of PP-OCR's [1, T, C] probabilities (class 0 = blank, class i = keys[i - 1], last = space). */
export function ctcDecode(probs: Float32Array, T: number, C: number, keys: string[]): string {
  let out = '';
  let previous = -1;
  for (let t = 0; t < T; t++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (probs[t * C + c]! > probs[t * C + best]!) best = c;
    if (best !== 0 && best !== previous) out += best <= keys.length ? keys[best - 1] : ' ';
    previous = best;
  }
  return out;
}

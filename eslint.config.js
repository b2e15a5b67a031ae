// Lint rules for the whole repo (run by `npm run lint`, part of `npm test`). Prettier owns layout (.prettierrc.json);
// these rules catch mistakes and keep one import style.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Relative imports name a module without its extension (Vite, tsx and esbuild resolve `.ts`), so every file reads the
// same; a Vite query (`?worker`, `?url`) names the file as it is.
const TS_EXTENSION = String.raw`/^\.{1,2}\/.*\.ts$/`;
const importExtension = ['ImportDeclaration', 'ImportExpression', 'ExportNamedDeclaration', 'ExportAllDeclaration'].map(
  (node) => ({
    selector: `${node} > Literal.source[value=${TS_EXTENSION}]`,
    message: "Import relative modules without the '.ts' extension (one import style across the repo).",
  }),
);

export default tseslint.config(
  { ignores: ['node_modules/', '**/dist/', 'test-output/', 'bench/results/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      'max-len': [
        'error',
        { code: 120, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true },
      ],
    },
  },
  { files: ['**/*.ts'], rules: { 'no-restricted-syntax': ['error', ...importExtension] } },
  {
    // Tests read values back from browser pages (page.evaluate), whose shapes TypeScript cannot see.
    files: ['tests/**', 'tools/**', 'cli/browsers.ts', 'bench/page/driver.ts', 'bench/decode-engines.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);

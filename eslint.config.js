// Lint for edge-initd (issue 17): type-aware typescript-eslint (recommendedTypeChecked) and a
// line-length rule. `make lint` runs it with knip (unused files, exports, dependencies; knip.jsonc).
// Why each rule below differs from the preset: docs/decisions/0230-lint.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// A line that is one string or template literal, with at most a key, `return`, an operator, a `const x =` or a test's
// `it(` before it, and `,` `;` `)` or `, async () => {` after it.
const LONE_LITERAL = [
  String.raw`^\s*(?:[\w.]+: |return |[+?:] |(?:const|let) \w+ = |(?:it|test|describe)(?:\.\w+)?\()?`,
  String.raw`(['"\x60]).*\1`,
  String.raw`(?:[,;)]*|, (?:async )?\(\) => \{)$`,
].join('');

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.cache/**', 'vm-images/out/**', 'vm-images/cache/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // 160 columns. URLs and regular expressions stay whole; so does a line that holds nothing but one string or template
      // literal (an error message, a test's title, a fixture line, already on its own line): messages stay greppable.
      // ignoreStrings would exempt every line that contains any string, i.e. most of them.
      'max-len': ['error', {
        code: 160,
        ignoreUrls: true,
        ignoreRegExpLiterals: true,
        ignoreStrings: false,
        ignoreTemplateLiterals: false,
        ignorePattern: LONE_LITERAL,
      }],
      // `_name` marks a parameter or binding kept on purpose (a port's signature, `{ dropped: _d, ...rest }`).
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_',
        varsIgnorePattern: '^_',
        caughtErrorsIgnorePattern: '^_',
        destructuredArrayIgnorePattern: '^_',
        ignoreRestSiblings: true,
      }],
      // An async function without await is how a fake or a double implements a Promise-returning port (Host,
      // steps): the rule would ask for Promise.resolve() noise. Missed awaits are caught by no-floating-promises.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // vitest's asymmetric matchers (expect.any, expect.stringMatching, expect.objectContaining) are typed `any`, so every
      // `toEqual({ id: expect.any(String) })` would be reported. The other no-unsafe-* rules stay on in tests.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);

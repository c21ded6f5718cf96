// ESLint: typescript-eslint's type-checked rules over src/ and test/, plain JavaScript rules over the
// .mjs/.js scripts (they are outside tsconfig.json, so they have no types to check). Formatting is
// Prettier's job (.prettierrc): eslint-config-prettier, last, turns off every rule that would argue with it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', '.data/**', '.tools/**'] },

  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A switch over a union must name every member (or say `default:` on purpose): a new Action,
      // Mode or error code then fails the lint where it is not handled instead of falling through.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // Messages are read by people and matched by tests: `undefined`, `[object Object]` or a
      // stringified `any` in one is a bug. Numbers and booleans print as themselves.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowAny: false, allowNullish: false, allowNever: false, allowRegExp: false },
      ],
      // Off: tsconfig's noUncheckedIndexedAccess already makes every index read `T | undefined`; the
      // `!` left in the code marks reads the surrounding code has proved in range (a checked length, a
      // regex group that matched, a key just set), where a runtime check would be an unreachable branch.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `() => resolve(x)` returning a void call is how callbacks are written here; a void expression
      // anywhere else (a condition, a variable, a return of a value) is still reported.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Off: an `async` function without `await` is how this code base implements a Promise-returning
      // interface synchronously (credential stores, in-memory stores, fakes in tests): `async` turns a
      // throw into a rejection, which `return Promise.resolve(…)` would not.
      '@typescript-eslint/require-await': 'off',
      // Handing on a rejection whose reason is `unknown` (a caught error) is correct; a literal
      // non-Error reason is still reported.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `while (true)` with a return inside is a loop, not a forgotten condition.
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: 'only-allowed-literals' }],
      // `_`-prefixed names are deliberately unused (a callback's position, a destructured rest).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },

  // Scripts, the bench and config files: JavaScript run by Node, not part of the TypeScript project.
  {
    files: ['**/*.mjs', '**/*.js', 'bin/countersign'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node, sourceType: 'module' },
  },
  {
    files: ['**/*.js', 'bin/countersign'],
    languageOptions: { sourceType: 'commonjs' },
    // CommonJS has no other way to import.
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },

  prettier,
);

// Lint rules that keep functions short and flag complexity (STYLE.md, "Shape").
// An exception carries its reason inline as an eslint-disable comment.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', '**/generated/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 70, skipBlankLines: true, skipComments: true }],
      complexity: ['error', 15],
      'max-depth': ['error', 4],
      'max-params': ['error', 7],
      'no-constant-condition': ['error', { checkLoops: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Test and benchmark scenarios read top to bottom; allow longer bodies there.
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // The operator's decision core reaches Kubernetes only through its ports (DESIGN.md §1).
    files: ['operator/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['@kubernetes/*', '@grpc/*', '**/operator/kube/**', '../kube/**'], message: 'operator/core reaches the world through its ports (operator/core/ports.ts) only' },
      ] }],
    },
  },
);

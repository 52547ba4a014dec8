// ESLint flat config, as in the NestJS starter: typescript-eslint's type-aware rules + Prettier.
import eslint from '@eslint/js';
import eslintPluginPrettierRecommended from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { layersConfig } from './eslint.layers.mjs';

export default tseslint.config(
  {
    ignores: ['dist/**', 'coverage/**', 'eslint.config.mjs', 'eslint.layers.mjs', 'jest.config.js'],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  eslintPluginPrettierRecommended,
  {
    languageOptions: {
      globals: { ...globals.node, ...globals.jest },
      sourceType: 'commonjs',
    },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // Imports run downward only: the layers of src/ and the rule that keeps them.
  layersConfig,
);

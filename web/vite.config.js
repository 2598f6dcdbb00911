import { defineConfig, defaultClientConditions } from 'vite'

export default defineConfig({
  // React's automatic JSX runtime; no plugin needed for a production build.
  oxc: { jsx: { runtime: 'automatic' } },
  // @tandem/provider (packages/provider) is used from its TypeScript source.
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: true },
  server: { proxy: { '/api': 'http://127.0.0.1:8080', '/ws': { target: 'ws://127.0.0.1:8080', ws: true } } },
  test: { include: ['src/**/*.test.ts'], environment: 'node' }
})

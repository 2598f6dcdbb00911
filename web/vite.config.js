import { defineConfig } from 'vite'

export default defineConfig({
  // React's automatic JSX runtime; no plugin needed for a production build.
  oxc: { jsx: { runtime: 'automatic' } },
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: true },
  server: { proxy: { '/api': 'http://127.0.0.1:8080', '/ws': { target: 'ws://127.0.0.1:8080', ws: true } } },
  test: { include: ['src/**/*.test.ts'], environment: 'node' }
})

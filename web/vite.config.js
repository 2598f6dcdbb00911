import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { defineConfig, defaultClientConditions } from 'vite'

/**
 * Every text file of the build also written compressed, `.br` (brotli at its best) and `.gz`, so
 * the server sends what the browser accepts without compressing on each request
 * (crates/tandem-server/src/routes/web.rs).
 */
const precompress = {
  name: 'tandem-precompress',
  apply: 'build',
  closeBundle () {
    const walk = dir => readdirSync(dir).flatMap(f => {
      const path = join(dir, f)
      return statSync(path).isDirectory() ? walk(path) : [path]
    })
    for (const file of walk(join(import.meta.dirname, 'dist'))) {
      if (!/\.(js|css|html|svg|json|webmanifest|txt)$/.test(file)) continue
      const data = readFileSync(file)
      if (data.length < 1024) continue
      writeFileSync(`${file}.br`, brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }))
      writeFileSync(`${file}.gz`, gzipSync(data, { level: 9 }))
    }
  }
}

export default defineConfig({
  // React's automatic JSX runtime; no plugin needed for a production build.
  oxc: { jsx: { runtime: 'automatic' } },
  plugins: [precompress],
  // @tandem/provider (packages/provider) is used from its TypeScript source.
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: true },
  server: { proxy: { '/api': 'http://127.0.0.1:8080', '/ws': { target: 'ws://127.0.0.1:8080', ws: true } } },
  test: { include: ['src/**/*.test.ts'], environment: 'node' }
})

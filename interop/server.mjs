// Starts the real `tandem` binary on a free port with a fresh data directory and resolves with
// its address once it logs "listening". Used by every interop test.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** One local user (`--auth none`) unless `extraArgs` choose `--auth accounts`. `keep.dataDir`
 * restarts on an earlier server's data (see `kill`). */
export function startTandem (extraArgs = [], keep = {}) {
  const bin = process.env.TANDEM_BIN ?? join(root, 'target', 'debug', 'tandem')
  const dataDir = keep.dataDir ?? mkdtempSync(join(tmpdir(), 'tandem-interop-'))
  const auth = extraArgs.includes('--auth') ? [] : ['--auth', 'none']
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--data-dir', dataDir, ...auth, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { RUST_LOG: 'info', ...process.env }
  })
  // Never leave the server behind, whatever happens to the test process.
  process.on('exit', () => child.kill('SIGKILL'))
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error('tandem did not start in 10 s')), 10_000)
    child.on('exit', code => reject(new Error(`tandem exited early with ${code}`)))
    child.stdout.on('error', () => {})
    child.stdout.on('data', chunk => {
      if (process.env.TEST_LOG) process.stderr.write(chunk)
      buf += chunk
      const m = buf.match(/tandem listening on http:\/\/(\S+)/)
      if (m) {
        clearTimeout(timer)
        resolve({
          addr: m[1],
          dataDir,
          /** SIGKILL, keeping the data for a restart. */
          kill () {
            child.kill('SIGKILL')
            return new Promise(resolve => child.exitCode !== null ? resolve() : child.once('exit', resolve))
          },
          stop () {
            child.kill('SIGKILL')
            rmSync(dataDir, { recursive: true, force: true })
          }
        })
      }
    })
  })
}

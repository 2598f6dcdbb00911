// The OpenAPI document the server publishes is valid OpenAPI 3 (checked by swagger-parser, which
// also resolves every $ref) and lists every route of the router's table.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import SwaggerParser from '@apidevtools/swagger-parser'
import { startTandem } from './server.mjs'

const server = await startTandem(['--auth', 'accounts'])
after(() => server.stop())

test('the published OpenAPI document validates and covers the API', async () => {
  const res = await fetch(`http://${server.addr}/api/openapi.json`)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('cache-control'), 'no-store')
  const doc = await res.json()
  const api = await SwaggerParser.validate(structuredClone(doc))
  assert.equal(api.openapi, '3.0.3')
  // A sample of routes from every part of the API; the Rust unit test checks the full table.
  for (const [method, path] of [['get', '/api/docs'], ['post', '/api/auth/login'], ['post', '/api/docs/{doc}/restore'],
    ['get', '/api/docs/{doc}/export'], ['post', '/api/docs/{doc}/links'], ['get', '/ws/{doc}'], ['post', '/api/docs/import']]) {
    assert.ok(doc.paths[path]?.[method], `${method} ${path} missing`)
  }
  assert.ok(Object.keys(doc.paths).length >= 25)
})

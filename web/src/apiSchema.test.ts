// The web client's API types are generated from the server's OpenAPI document (web/openapi.json,
// itself checked against the server by a Rust test): a stale src/apiSchema.ts fails here, so the
// client and the server cannot drift apart. `make api-types` regenerates both.
import { describe, expect, it } from 'vitest'
import openapiTS, { astToString } from 'openapi-typescript'
import committed from './apiSchema.ts?raw'
import document from '../openapi.json'

describe('the API types', () => {
  it('are generated from the current OpenAPI document', async () => {
    // A copy: openapi-typescript resolves references in place.
    const made = astToString(await openapiTS(structuredClone(document) as Parameters<typeof openapiTS>[0]))
    expect(committed.slice(committed.indexOf('\n') + 1)).toBe(made)
  })
})

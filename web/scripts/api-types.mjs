// Generates src/apiSchema.ts, the API's types, from openapi.json (the server's OpenAPI document,
// `tandem openapi`). `make api-types` runs both steps; apiSchema.test.ts fails when they differ.
import { writeFile } from 'node:fs/promises'
import { apiSchema } from './apiSchemaSource.mjs'

await writeFile(new URL('../src/apiSchema.ts', import.meta.url), await apiSchema())

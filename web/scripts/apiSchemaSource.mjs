// The text of src/apiSchema.ts as openapi-typescript makes it from openapi.json.
import openapiTS, { astToString } from 'openapi-typescript'

export async function apiSchema () {
  const ast = await openapiTS(new URL('../openapi.json', import.meta.url))
  return '// Generated from openapi.json by scripts/api-types.mjs (`make api-types`): do not edit.\n' + astToString(ast)
}

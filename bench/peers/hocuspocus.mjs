// @hocuspocus/server with no extensions, on 127.0.0.1 and the port in $PORT (0 = any free port).
// Prints "listening on PORT".
import { Server } from '@hocuspocus/server'

const server = new Server({ address: '127.0.0.1', port: Number(process.env.PORT ?? 0), quiet: true })
await server.listen()
console.log(`listening on ${server.address.port}`)

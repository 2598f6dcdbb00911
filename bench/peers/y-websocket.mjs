// The reference y-websocket server, exactly as its package ships it (setupWSConnection), on
// 127.0.0.1 and the port in $PORT (0 = any free port). Prints "listening on PORT".
import http from 'node:http'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'

const server = http.createServer((_req, res) => { res.writeHead(200); res.end('okay') })
const wss = new WebSocketServer({ noServer: true })
wss.on('connection', setupWSConnection)
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, ws => wss.emit('connection', ws, req)))
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`listening on ${server.address().port}`))

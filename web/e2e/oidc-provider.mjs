// A small OpenID provider for the single sign-on tests, on 127.0.0.1: discovery, JWKS, an
// authorize endpoint that signs `user` in at once (redirecting back with a code), and a token
// endpoint that checks the client's secret and the PKCE verifier, then issues an RS256 ID token.
// `mode` makes it misbehave the way an attacker or a broken provider would.
import http from 'node:http'
import crypto from 'node:crypto'

const b64url = b => Buffer.from(b).toString('base64url')

export async function startProvider ({ clientId = 'tandem', clientSecret = 'provider-secret' } = {}) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' }
  const codes = new Map()
  const op = {
    /** 'ok' | 'forged-state' | 'wrong-nonce' | 'expired' | 'wrong-aud' | 'unverified' */
    mode: 'ok',
    user: { sub: 'u-1', email: 'ann@example.org', name: 'Ann Example' },
    issuer: '',
    tokenRequests: 0,
    close: () => new Promise(resolve => server.close(resolve))
  }
  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify(body))
  }
  const sign = claims => {
    const head = b64url(JSON.stringify({ alg: 'RS256', kid: 'k1', typ: 'JWT' }))
    const body = b64url(JSON.stringify(claims))
    const sig = crypto.sign('RSA-SHA256', Buffer.from(`${head}.${body}`), privateKey)
    return `${head}.${body}.${b64url(sig)}`
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, op.issuer)
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer: op.issuer,
        authorization_endpoint: `${op.issuer}/authorize`,
        token_endpoint: `${op.issuer}/token`,
        jwks_uri: `${op.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid', 'email', 'profile'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        code_challenge_methods_supported: ['S256']
      })
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: [jwk] })
    if (url.pathname === '/authorize') {
      const p = url.searchParams
      if (p.get('client_id') !== clientId || p.get('response_type') !== 'code' || p.get('code_challenge_method') !== 'S256') {
        res.writeHead(400); return res.end('bad authorization request')
      }
      const code = crypto.randomBytes(16).toString('hex')
      codes.set(code, { nonce: p.get('nonce'), challenge: p.get('code_challenge'), redirect: p.get('redirect_uri') })
      const back = new URL(p.get('redirect_uri'))
      back.searchParams.set('code', code)
      back.searchParams.set('state', op.mode === 'forged-state' ? 'a-state-this-browser-never-saw' : p.get('state'))
      res.writeHead(302, { location: back.toString() })
      return res.end()
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let raw = ''
      req.on('data', c => { raw += c })
      req.on('end', () => {
        op.tokenRequests++
        const form = new URLSearchParams(raw)
        const basic = (req.headers.authorization ?? '').replace(/^Basic /, '')
        const [id, secret] = basic === ''
          ? [form.get('client_id'), form.get('client_secret')]
          : Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent)
        if (id !== clientId || secret !== clientSecret) return json(res, 401, { error: 'invalid_client' })
        const grant = codes.get(form.get('code'))
        codes.delete(form.get('code'))
        const verifier = form.get('code_verifier') ?? ''
        const challenge = crypto.createHash('sha256').update(verifier).digest('base64url')
        if (grant === undefined || grant.challenge !== challenge || grant.redirect !== form.get('redirect_uri')) {
          return json(res, 400, { error: 'invalid_grant' })
        }
        const now = Math.floor(Date.now() / 1000)
        const idToken = sign({
          iss: op.issuer,
          sub: op.user.sub,
          aud: op.mode === 'wrong-aud' ? 'another-client' : clientId,
          iat: op.mode === 'expired' ? now - 900 : now,
          exp: op.mode === 'expired' ? now - 300 : now + 300,
          nonce: op.mode === 'wrong-nonce' ? 'a-nonce-from-another-sign-in' : grant.nonce,
          email: op.user.email,
          email_verified: op.mode !== 'unverified',
          name: op.user.name
        })
        json(res, 200, { access_token: crypto.randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 300, id_token: idToken })
      })
      return
    }
    res.writeHead(404); res.end()
  })
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  op.issuer = `http://127.0.0.1:${server.address().port}`
  return op
}

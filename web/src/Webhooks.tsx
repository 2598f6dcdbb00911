import { useEffect, useRef, useState } from 'react'
import {
  createWebhook, deleteWebhook, listWebhooks, setWebhookEnabled, testWebhook, webhookDeliveries,
  type Delivery, type Webhook, type WebhookEvent
} from './api'
import { useFocusTrap } from './Share'

const EVENTS: Array<[WebhookEvent, string]> = [
  ['changed', 'Edits'],
  ['comment', 'Comments'],
  ['share', 'Sharing'],
  ['deleted', 'Deletion']
]

const when = (ms: number): string => new Date(ms).toLocaleString()

/**
 * The owner's webhooks dialog: each webhook's address, events and state (on, failing since when,
 * or turned off and why) with the deliveries waiting; a test ping, the delivery log, turning it
 * off and on, deleting it (asked first); and a form to add one, whose signing secret is shown
 * once. Opened from the document's menu, or from the notice that one was turned off.
 */
export function WebhooksDialog ({ docId, onClose }: { docId: string, onClose: () => void }) {
  const [hooks, setHooks] = useState<Webhook[] | null>(null)
  const [url, setUrl] = useState('')
  const [events, setEvents] = useState<WebhookEvent[]>(['changed'])
  const [secret, setSecret] = useState<string | null>(null)
  const [copied, setCopied] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [log, setLog] = useState<{ id: string, deliveries: Delivery[] } | null>(null)
  const [tested, setTested] = useState<{ id: string, result: Delivery } | null>(null)
  const [confirming, setConfirming] = useState<string | null>(null)
  const dialog = useRef<HTMLDivElement>(null)
  const reload = () => { listWebhooks(docId).then(setHooks, (e: Error) => setError(e.message)) }
  useEffect(reload, [docId])
  useFocusTrap(dialog, onClose)
  const run = (f: () => Promise<unknown>) => { setError(null); f().then(reload, (e: Error) => setError(e.message)) }
  const showLog = (id: string) => {
    if (log?.id === id) { setLog(null); return }
    webhookDeliveries(id).then(deliveries => setLog({ id, deliveries }), (e: Error) => setError(e.message))
  }

  return (
    <div className='backdrop' onMouseDown={e => { if (e.target === e.currentTarget) onClose() }}>
      <div className='dialog webhooks' role='dialog' aria-modal='true' aria-labelledby='webhooks-title' data-testid='webhooks-dialog' ref={dialog}>
        <header><h2 id='webhooks-title'>Webhooks</h2><button onClick={onClose}>Close</button></header>
        <p className='muted'>
          Tandem posts a signed JSON message to each address when the document changes (a range of
          saved revisions), gets a comment, is shared or deleted. Failed deliveries are retried;
          after a day of failures the webhook is turned off and you are told.
        </p>
        {error !== null && <p className='error' role='alert'>{error}</p>}
        <form onSubmit={e => {
          e.preventDefault()
          run(async () => {
            const created = await createWebhook(docId, url, events)
            setSecret(created.secret)
            setCopied(false)
            setUrl('')
          })
        }}
        >
          <input aria-label='Webhook address' type='url' placeholder='https://example.org/hooks/tandem' required value={url} onChange={e => setUrl(e.target.value)} data-testid='webhook-url' />
          <fieldset className='events'>
            <legend className='sr-only'>Events</legend>
            {EVENTS.map(([event, label]) => (
              <label key={event} className='check'>
                <input
                  type='checkbox' checked={events.includes(event)} data-testid={`webhook-event-${event}`}
                  onChange={e => setEvents(e.target.checked ? [...events, event] : events.filter(x => x !== event))}
                /> {label}
              </label>
            ))}
          </fieldset>
          <button type='submit' className='primary' disabled={events.length === 0}>Add webhook</button>
        </form>
        {secret !== null && (
          <p className='new-link' role='status'>
            Signing secret, shown once: <input aria-label='Signing secret' readOnly value={secret} data-testid='webhook-secret' onFocus={e => e.target.select()} />
            <button type='button' onClick={() => { navigator.clipboard.writeText(secret).then(() => setCopied(true), () => setCopied(false)) }}>{copied ? 'Copied' : 'Copy'}</button>
          </p>
        )}
        {hooks !== null && hooks.length === 0 && <p className='muted' data-testid='no-webhooks'>No webhooks yet.</p>}
        <ul data-testid='webhooks'>
          {(hooks ?? []).map(h => (
            <li key={h.id} className='webhook' data-testid='webhook'>
              <div className='webhook-head'>
                <code className='url'>{h.url}</code>
                <span className={`badge ${h.enabled ? (h.failing_since !== null ? 'warn' : 'ok') : 'off'}`} data-testid='webhook-state'>
                  {h.enabled ? (h.failing_since !== null ? `Failing since ${when(h.failing_since)}` : 'On') : 'Off'}
                </span>
              </div>
              <small>
                {h.events.map(e => EVENTS.find(([x]) => x === e)?.[1] ?? e).join(', ')}
                {h.pending > 0 && ` · ${h.pending} waiting`}
                {!h.enabled && h.disabled_reason !== '' && ` · ${h.disabled_reason}`}
              </small>
              <div className='row-actions'>
                <button type='button' data-testid='webhook-test' onClick={() => { setError(null); testWebhook(h.id).then(result => { setTested({ id: h.id, result }); reload() }, (e: Error) => setError(e.message)) }}>Send test</button>
                <button type='button' aria-expanded={log?.id === h.id} onClick={() => showLog(h.id)}>Deliveries</button>
                <button type='button' data-testid='webhook-toggle' onClick={() => run(async () => await setWebhookEnabled(h.id, !h.enabled))}>{h.enabled ? 'Turn off' : 'Turn on'}</button>
                {confirming === h.id
                  ? (
                    <>
                      <button type='button' className='danger' data-testid='webhook-delete-confirm' onClick={() => { setConfirming(null); run(async () => await deleteWebhook(h.id)) }}>Delete for good</button>
                      <button type='button' onClick={() => setConfirming(null)}>Keep</button>
                    </>
                    )
                  : <button type='button' className='danger' onClick={() => setConfirming(h.id)}>Delete</button>}
              </div>
              {tested?.id === h.id && (
                <p className={tested.result.ok ? 'note' : 'error'} role='status' data-testid='webhook-test-result'>
                  {tested.result.ok
                    ? `Test delivered: ${tested.result.status ?? ''} in ${tested.result.latency_ms} ms`
                    : `Test failed: ${tested.result.error}`}
                </p>
              )}
              {log?.id === h.id && (
                <table className='deliveries' data-testid='webhook-log'>
                  <caption className='sr-only'>Last deliveries, newest first</caption>
                  <thead><tr><th>When</th><th>Event</th><th>Result</th><th>Time</th></tr></thead>
                  <tbody>
                    {log.deliveries.length === 0 && <tr><td colSpan={4} className='muted'>Nothing sent yet.</td></tr>}
                    {log.deliveries.map((d, i) => (
                      <tr key={`${d.delivery}-${i}`}>
                        <td>{when(d.at)}</td>
                        <td>{d.event}{d.event === 'changed' && ` ${d.rev_from}–${d.rev_to}`}</td>
                        <td className={d.ok ? 'ok' : 'failed'}>{d.ok ? `${d.status ?? ''} OK` : (d.error !== '' ? d.error : `${d.status ?? ''}`)}</td>
                        <td>{d.latency_ms} ms</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </li>
          ))}
        </ul>
      </div>
    </div>
  )
}

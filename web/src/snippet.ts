// A search snippet from the server (HTML: the text escaped, matches in <mark>) as plain parts, so
// the page renders it as text and never as markup.

export interface SnippetPart { text: string, hit: boolean }

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" }
const unescape = (s: string): string => s.replace(/&(amp|lt|gt|quot|#39);/g, e => ENTITIES[e])

export function snippetParts (html: string): SnippetPart[] {
  const out: SnippetPart[] = []
  let hit = false
  for (const piece of html.split(/(<mark>|<\/mark>)/)) {
    if (piece === '<mark>') hit = true
    else if (piece === '</mark>') hit = false
    else if (piece !== '') out.push({ text: unescape(piece), hit })
  }
  return out
}

/** The first matched word of a snippet (what to find in the document once it opens). */
export const firstHit = (html: string): string | undefined => snippetParts(html).find(p => p.hit)?.text

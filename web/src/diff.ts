// A word-level diff (longest common subsequence) between two texts, for the history panel:
// what was deleted since a version and what was added since.
export type Piece = { kind: 'same' | 'added' | 'deleted', text: string }

export function wordDiff (before: string, after: string): Piece[] {
  const a = before.split(/(\s+)/).filter(s => s !== '')
  const b = after.split(/(\s+)/).filter(s => s !== '')
  // Bounded: very long documents fall back to "everything changed" rather than O(n·m) memory.
  if (a.length * b.length > 4_000_000) return [{ kind: 'deleted', text: before }, { kind: 'added', text: after }]
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1])
    }
  }
  const out: Piece[] = []
  const push = (kind: Piece['kind'], text: string) => {
    const last = out[out.length - 1]
    if (last?.kind === kind) last.text += text
    else out.push({ kind, text })
  }
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { push('same', a[i]); i++; j++ } else if (lcs[i + 1][j] >= lcs[i][j + 1]) { push('deleted', a[i]); i++ } else { push('added', b[j]); j++ }
  }
  while (i < a.length) push('deleted', a[i++])
  while (j < b.length) push('added', b[j++])
  return out
}

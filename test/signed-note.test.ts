/** C2SP signed notes, against the Go package's own test vectors and the spec's example (pinned in test/fixtures/). */
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import nacl from 'tweetnacl'
import { openNote, parseSignerKey, parseVerifierKey, signNote, verifierKey } from '../core/signed-note.js'

const v = JSON.parse(readFileSync(new URL('./fixtures/c2sp-note-go-vectors.json', import.meta.url), 'utf8'))
const peter = parseVerifierKey(v.peter.verifier)
const enoch = parseVerifierKey(v.enoch.verifier)

describe('signed notes (c2sp.org/signed-note)', () => {
  it("note - Go's keys read, and any mangling of a verifier key (cut, a byte changed, wrong length, unknown algorithm) is refused", () => {
    expect(peter).toMatchObject({ name: 'PeterNeumann', id: 0xc74f20a3 })
    expect(verifierKey(peter.name, peter.publicKey)).toBe(v.peter.verifier)
    const key: string = v.peter.verifier
    for (let i = 0; i < key.length; i++) {
      expect(() => parseVerifierKey(key.slice(0, i)), `cut at ${i}`).toThrow()
      const changed = key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1)
      expect(() => parseVerifierKey(changed), `byte ${i}`).toThrow()
    }
    for (const bad of v.peter.badVerifiers) expect(() => parseVerifierKey(bad)).toThrow()
    const signer = parseSignerKey(v.peter.signer)
    expect(signer.id).toBe(peter.id)
    expect(Buffer.from(signer.secretKey.subarray(32))).toEqual(Buffer.from(peter.publicKey))
  })

  it("note - signing Go's text with Go's key gives Go's bytes exactly (Ed25519 is deterministic)", () => {
    const signer = parseSignerKey(v.peter.signer)
    expect(signNote(v.text, [signer])).toBe(`${v.text}\n${v.peterSig}`)
    expect(() => signNote('abc', [signer])).toThrow(/ends with a newline/)
  })

  it('note - opening: known keys verify, unknown ones are kept unverified, duplicates counted once; no known signer, a bad signature or an ambiguous key refuse the note', () => {
    const both = `${v.text}\n${v.peterSig}${v.enochSig}`
    const one = openNote(both, [peter])
    expect(one.text).toBe(v.text)
    expect(one.verified.map((s) => s.name)).toEqual(['PeterNeumann'])
    expect(one.unverified.map((s) => [s.name, s.id])).toEqual([['EnochRoot', 0xaf0cfe78]])
    expect(openNote(both, [peter, enoch]).verified).toHaveLength(2)
    expect(() => openNote(both, [])).toThrow(/no signature from a key known here/)
    expect(() => openNote(`${v.text}\n${v.enochSig}`, [enoch, peter, enoch])).toThrow(
      /ambiguous key EnochRoot\+af0cfe78/
    )
    expect(openNote(`${v.text}\n${v.peterSig}`, [enoch, peter, enoch]).verified).toHaveLength(1)
    const sig: string = v.peterSig
    expect(() => openNote(`${v.text}\n${sig.slice(0, 60)}ABCD${sig.slice(60)}`, [peter])).toThrow(
      /invalid signature for key PeterNeumann\+c74f20a3/
    )
    const dup = openNote(`${v.text}\n${v.peterSig}${v.peterSig}${v.enochSig}${v.enochSig}`, [peter])
    expect([dup.verified.length, dup.unverified.length]).toEqual([1, 1])
    expect(() => openNote(`${v.text}\n${v.peterSig.repeat(101)}`, [peter])).toThrow(/at most 100 signatures/)
  })

  it("note - Go's malformed notes are malformed here too: no blank line, no signature, a cut line, control or invalid bytes, a bad name, a stray line", () => {
    const text: string = v.text
    const sig: string = v.peterSig
    const bad: (string | Uint8Array)[] = [
      text,
      text + '\n',
      text + '\n' + sig.slice(0, -1),
      '\x01' + text + '\n' + sig,
      Buffer.concat([Buffer.from([0xff]), Buffer.from(text + '\n' + sig)]),
      text +
        '\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=',
      text + '\n' + sig + 'Unexpected line.\n'
    ]
    for (const msg of bad) expect(() => openNote(msg, [peter])).toThrow(expect.objectContaining({ code: 'MALFORMED' }))
  })

  it("note - the spec's example splits at the last blank line (its text holds one) and its signature line reads", () => {
    const key = nacl.sign.keyPair().publicKey
    const stranger = { name: 'quasimodo.example/salvatore', id: 1, publicKey: key }
    expect(() => openNote(v.specExample.note, [stranger])).toThrow(/no signature from a key known here/)
    const signer = { name: 'quasimodo.example/salvatore', secretKey: nacl.sign.keyPair().secretKey }
    const mine = signNote(v.specExample.text, [signer])
    const verifier = parseVerifierKey(verifierKey(signer.name, signer.secretKey.subarray(32)))
    expect(openNote(mine, [verifier]).text).toBe(v.specExample.text)
  })
})

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FakeHost } from '../../agent/host/fake.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { AgentError } from '../../agent/errors.ts';
import { clamp, ensureKeyPair, generatePrivateKey, isWireguardKey, keyPaths, publicKeyFromPrivate } from '../../agent/wireguard/keys.ts';

const vectors = JSON.parse(readFileSync(new URL('../fixtures/wg/key-vectors.json', import.meta.url), 'utf8')) as {
  vectors: Array<{ name: string; privateHex?: string; publicHex?: string; privateKey: string; wgPubkey: string }>;
};

describe('wireguard keys: known vectors', () => {
  for (const v of vectors.vectors) {
    it(`${v.name}: private → public equals wg pubkey`, () => {
      expect(publicKeyFromPrivate(v.privateKey)).toBe(v.wgPubkey);
      if (v.privateHex && v.publicHex) {
        expect(Buffer.from(v.privateKey, 'base64').toString('hex')).toBe(v.privateHex);
        expect(Buffer.from(v.wgPubkey, 'base64').toString('hex')).toBe(v.publicHex);
      }
    });
  }

  it('clamping does not change the public key (X25519 clamps internally, like wg genkey)', () => {
    const v = vectors.vectors[0]!;
    const clamped = clamp(Buffer.from(v.privateKey, 'base64')).toString('base64');
    expect(clamped).not.toBe(v.privateKey);
    expect(publicKeyFromPrivate(clamped)).toBe(v.wgPubkey);
  });

  it('generated keys are canonical base64 of 32 clamped bytes', () => {
    for (let i = 0; i < 20; i++) {
      const k = generatePrivateKey();
      expect(k).toHaveLength(44);
      expect(isWireguardKey(k)).toBe(true);
      const raw = Buffer.from(k, 'base64');
      expect(raw[0]! & 7).toBe(0);
      expect(raw[31]! & 128).toBe(0);
      expect(raw[31]! & 64).toBe(64);
      expect(isWireguardKey(publicKeyFromPrivate(k))).toBe(true);
    }
  });

  it('isWireguardKey rejects near misses', () => {
    expect(isWireguardKey('')).toBe(false);
    expect(isWireguardKey('dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo')).toBe(false); // no padding
    expect(isWireguardKey('dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=')).toBe(false); // non-canonical last char
    expect(isWireguardKey('dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC==')).toBe(false);
    expect(isWireguardKey('dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n')).toBe(false);
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), (b) => isWireguardKey(Buffer.from(b).toString('base64')) === (b.length === 32)));
  });
});

describe('ensureKeyPair', () => {
  const stateDir = '/var/lib/castai-edge-initd';
  const { dir, file } = keyPaths(stateDir);

  it('generates once: 0600 file in a 0700 dir, written atomically; reuses it afterwards', async () => {
    const host = new FakeHost();
    const a = await ensureKeyPair(host, stateDir);
    expect(a.created).toBe(true);
    expect(a.privateKeyPath).toBe(file);
    const writes = host.calls.filter((c) => c.kind === 'write');
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({ path: file, mode: 0o600 });
    expect(host.dirs.get(dir)).toBe(0o700);
    const key = host.files.get(file)!.data.trim();
    expect(isWireguardKey(key)).toBe(true);
    expect(publicKeyFromPrivate(key)).toBe(a.publicKey);
    // No process was started: the key never touched an argv.
    expect(host.execLines()).toEqual([]);

    const b = await ensureKeyPair(host, stateDir);
    expect(b).toEqual({ ...a, created: false });
    expect(host.calls.filter((c) => c.kind === 'write')).toHaveLength(1);
  });

  it('the private key is scrubbed from every log line once loaded', async () => {
    const host = new FakeHost();
    await ensureKeyPair(host, stateDir);
    const key = host.files.get(file)!.data.trim();
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l), pretty: false });
    logger.info({ some: key }, `oops ${key}`);
    logger.error(new Error(`failed with ${key}`));
    expect(lines.join('')).not.toContain(key);
    expect(lines.join('')).toContain('[REDACTED]');
  });

  it('a corrupt key file is an error, never silently replaced', async () => {
    const host = new FakeHost();
    host.dirs.set(dir, 0o700);
    host.setFile(file, 'not-a-key\n', 0o600);
    const e = await ensureKeyPair(host, stateDir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AgentError);
    expect((e as AgentError).message).toMatch(/corrupt/);
    expect((e as AgentError).message).not.toContain('not-a-key');
    expect((e as AgentError).remediation).toMatch(/remove it/);
    expect(host.mutations()).toEqual([]);
    expect(host.files.get(file)!.data).toBe('not-a-key\n');
  });

  it('refuses a key file readable by others, and a loose directory', async () => {
    const host = new FakeHost();
    host.dirs.set(dir, 0o700);
    host.setFile(file, `${vectors.vectors[0]!.privateKey}\n`, 0o644);
    await expect(ensureKeyPair(host, stateDir)).rejects.toThrow(/mode 0644; it must be 0600/);
    const host2 = new FakeHost();
    host2.dirs.set(dir, 0o755);
    await expect(ensureKeyPair(host2, stateDir)).rejects.toThrow(/mode 0755; it must be 0700/);
    expect(host2.mutations()).toEqual([]);
  });

  it('accepts an existing valid key written by wg genkey', async () => {
    const host = new FakeHost();
    host.dirs.set(dir, 0o700);
    host.setFile(file, `${vectors.vectors[2]!.privateKey}\n`, 0o600);
    const r = await ensureKeyPair(host, stateDir);
    expect(r).toEqual({ publicKey: vectors.vectors[2]!.wgPubkey, privateKeyPath: file, created: false });
    expect(host.mutations()).toEqual([]);
  });
});

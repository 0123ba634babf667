/** Server-side SASL: SCRAM (RFC 5802, RFC 7677) and PLAIN (RFC 4616) exchanges against an in-memory store. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  deriveAllCredentials,
  deriveScramCredential,
  type AccountRecord,
  type AccountsRepository,
  type ScramCredential,
  type ScramMech,
} from '@kxmpp/store';
import { createSaslMechanism, decodeSaslData, offeredMechanisms, type SaslContext, type SaslMechanism, type SaslResult } from './index';

const DOMAIN = 'example.com';

class MemoryAccounts implements AccountsRepository {
  readonly rows = new Map<string, AccountRecord>();
  gets = 0;
  private key(d: string, u: string) {
    return `${d}\0${u}`;
  }
  async get(d: string, u: string) {
    this.gets++;
    return this.rows.get(this.key(d, u)) ?? null;
  }
  async create(rec: AccountRecord) {
    if (this.rows.has(this.key(rec.domain, rec.username))) return false;
    this.rows.set(this.key(rec.domain, rec.username), rec);
    return true;
  }
  async setCredentials(d: string, u: string, scram: Record<ScramMech, ScramCredential>) {
    const rec = this.rows.get(this.key(d, u));
    if (!rec) return false;
    this.rows.set(this.key(d, u), { ...rec, scram });
    return true;
  }
  async delete(d: string, u: string) {
    return this.rows.delete(this.key(d, u));
  }
  async list(d: string, limit?: number) {
    const names = [...this.rows.values()].filter((r) => r.domain === d).map((r) => r.username).sort();
    return limit === undefined ? names : names.slice(0, limit);
  }
  async count(d: string) {
    return (await this.list(d)).length;
  }
}

function accounts(users: Record<string, string | Record<ScramMech, ScramCredential>>): MemoryAccounts {
  const repo = new MemoryAccounts();
  for (const [username, pw] of Object.entries(users)) {
    const scram = typeof pw === 'string' ? deriveAllCredentials(pw, 128) : pw;
    void repo.create({ domain: DOMAIN, username, scram, createdAt: new Date(0).toISOString() });
  }
  return repo;
}

function ctx(repo: AccountsRepository, extra: Partial<SaslContext> = {}): SaslContext {
  return { domain: DOMAIN, accounts: repo, ...extra };
}

function mech(name: string, c: SaslContext): SaslMechanism {
  const m = createSaslMechanism(name, c);
  assert.ok(m, name);
  return m;
}

const b = (s: string) => Buffer.from(s, 'utf8');

function assertFailure(r: SaslResult, condition: string): void {
  assert.equal(r.kind, 'failure', JSON.stringify(r));
  if (r.kind === 'failure') assert.equal(r.condition, condition);
}

function challenge(r: SaslResult): string {
  assert.equal(r.kind, 'challenge', JSON.stringify(r));
  return r.kind === 'challenge' ? r.data.toString('utf8') : '';
}

/** A minimal SCRAM client after RFC 5802 §3. */
class ScramClient {
  readonly algo: 'sha1' | 'sha256';
  private clientFirstBare = '';
  private serverSignature = '';
  constructor(
    readonly mech: ScramMech,
    readonly username: string,
    readonly password: string,
    readonly opts: { cnonce?: string; gs2?: string } = {},
  ) {
    this.algo = mech === 'SCRAM-SHA-1' ? 'sha1' : 'sha256';
  }
  get gs2(): string {
    return this.opts.gs2 ?? 'n,,';
  }
  first(): Buffer {
    const name = this.username.replace(/=/g, '=3D').replace(/,/g, '=2C');
    this.clientFirstBare = `n=${name},r=${this.opts.cnonce ?? randomBytes(12).toString('base64')}`;
    return b(this.gs2 + this.clientFirstBare);
  }
  final(serverFirst: string, tamper: { nonce?: string; cbind?: string } = {}): Buffer {
    const attrs = Object.fromEntries(serverFirst.split(',').map((a) => [a[0], a.slice(2)]));
    const salted = pbkdf2Sync(this.password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), this.algo === 'sha1' ? 20 : 32, this.algo);
    const hmac = (k: Buffer, d: string) => createHmac(this.algo, k).update(d).digest();
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash(this.algo).update(clientKey).digest();
    const withoutProof = `c=${tamper.cbind ?? Buffer.from(this.gs2).toString('base64')},r=${tamper.nonce ?? attrs.r}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const sig = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((x, i) => x ^ sig[i]!));
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
    return b(`${withoutProof},p=${proof.toString('base64')}`);
  }
  expectedVerifier(): string {
    return `v=${this.serverSignature}`;
  }
}

async function scramExchange(m: SaslMechanism, client: ScramClient): Promise<SaslResult> {
  const serverFirst = challenge(await m.step(client.first()));
  return m.step(client.final(serverFirst));
}

describe('offeredMechanisms / createSaslMechanism', () => {
  it('offers PLAIN only on a secure stream or when allowed', () => {
    assert.deepEqual(offeredMechanisms({ secure: true, allowPlainInsecure: false }), ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    assert.deepEqual(offeredMechanisms({ secure: false, allowPlainInsecure: false }), ['SCRAM-SHA-256', 'SCRAM-SHA-1']);
    assert.deepEqual(offeredMechanisms({ secure: false, allowPlainInsecure: true }), ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
  });
  it('knows SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN only', () => {
    const c = ctx(accounts({}));
    for (const n of ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']) assert.equal(createSaslMechanism(n, c)?.name, n);
    for (const n of ['SCRAM-SHA-256-PLUS', 'DIGEST-MD5', 'plain', 'ANONYMOUS', '']) assert.equal(createSaslMechanism(n, c), null);
  });
});

describe('SCRAM', () => {
  for (const name of ['SCRAM-SHA-1', 'SCRAM-SHA-256'] as const) {
    describe(name, () => {
      it('full exchange succeeds and proves the server knows the key', async () => {
        const m = mech(name, ctx(accounts({ juliet: 'r0m30myr0m30' })));
        const client = new ScramClient(name, 'juliet', 'r0m30myr0m30');
        const r = await scramExchange(m, client);
        assert.equal(r.kind, 'success', JSON.stringify(r));
        assert.ok(r.kind === 'success');
        assert.equal(r.username, 'juliet');
        assert.equal(r.data?.toString(), client.expectedVerifier());
        assertFailure(await m.step(b('')), 'malformed-request');
      });

      it('wrong password -> not-authorized', async () => {
        const m = mech(name, ctx(accounts({ juliet: 'right' })));
        assertFailure(await scramExchange(m, new ScramClient(name, 'juliet', 'wrong')), 'not-authorized');
      });

      it('an empty <auth/> gets an empty challenge, then the exchange runs', async () => {
        const m = mech(name, ctx(accounts({ juliet: 'pw' })));
        assert.equal(challenge(await m.step(null)), '');
        const r = await scramExchange(m, new ScramClient(name, 'juliet', 'pw'));
        assert.equal(r.kind, 'success');
      });

      it("an empty initial response ('=') is a malformed client-first message, not a request for a challenge", async () => {
        const m = mech(name, ctx(accounts({ juliet: 'pw' })));
        assertFailure(await m.step(Buffer.alloc(0)), 'malformed-request');
      });

      it('no data twice gets one empty challenge, then malformed-request', async () => {
        const m = mech(name, ctx(accounts({ juliet: 'pw' })));
        assert.equal(challenge(await m.step(null)), '');
        assertFailure(await m.step(null), 'malformed-request');
      });
    });
  }

  it('RFC 7677 §3 test vector', async () => {
    const scram = {
      'SCRAM-SHA-256': deriveScramCredential('SCRAM-SHA-256', 'pencil', { salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), iterations: 4096 }),
      'SCRAM-SHA-1': deriveScramCredential('SCRAM-SHA-1', 'pencil', { iterations: 16 }),
    };
    const m = mech('SCRAM-SHA-256', ctx(accounts({ user: scram }), { nonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' }));
    const serverFirst = challenge(await m.step(b('n,,n=user,r=rOprNGfwEbeRWgbNEkqO')));
    assert.equal(serverFirst, 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    const r = await m.step(b('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ='));
    assert.deepEqual(r, { kind: 'success', username: 'user', data: b('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=') });
  });

  it('RFC 5802 §5 test vector (SCRAM-SHA-1)', async () => {
    const scram = {
      'SCRAM-SHA-1': deriveScramCredential('SCRAM-SHA-1', 'pencil', { salt: Buffer.from('QSXCR+Q6sek8bf92', 'base64'), iterations: 4096 }),
      'SCRAM-SHA-256': deriveScramCredential('SCRAM-SHA-256', 'pencil', { iterations: 16 }),
    };
    const m = mech('SCRAM-SHA-1', ctx(accounts({ user: scram }), { nonce: () => '3rfcNHYJY1ZVvWVs7j' }));
    const serverFirst = challenge(await m.step(b('n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL')));
    assert.equal(serverFirst, 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096');
    const r = await m.step(b('c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts='));
    assert.deepEqual(r, { kind: 'success', username: 'user', data: b('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=') });
  });

  it('unknown user: a normal-looking challenge, deterministic salt, not-authorized only at the proof', async () => {
    const secret = randomBytes(32);
    const repo = accounts({ juliet: 'pw' });
    const first = async () => {
      const m = mech('SCRAM-SHA-256', ctx(repo, { secret }));
      const client = new ScramClient('SCRAM-SHA-256', 'romeo', 'pw');
      const serverFirst = challenge(await m.step(client.first()));
      assert.match(serverFirst, /^r=[^,]+,s=[A-Za-z0-9+/]{22}==,i=4096$/);
      return { m, client, serverFirst };
    };
    const a = await first();
    const again = await first();
    assert.equal(a.serverFirst.split(',')[1], again.serverFirst.split(',')[1], 'same fake salt each time');
    assertFailure(await a.m.step(a.client.final(a.serverFirst)), 'not-authorized');
  });

  it('a username needing =2C / =3D escaping and case folding', async () => {
    const m = mech('SCRAM-SHA-256', ctx(accounts({ 'a=b,c': 'pw' })));
    const r = await scramExchange(m, new ScramClient('SCRAM-SHA-256', 'A=B,C', 'pw'));
    assert.ok(r.kind === 'success', JSON.stringify(r));
    assert.equal(r.username, 'a=b,c');
  });

  it('a username that is no valid localpart -> not-authorized', async () => {
    const m = mech('SCRAM-SHA-256', ctx(accounts({})));
    assertFailure(await m.step(b('n,,n=a@b,r=abc')), 'not-authorized');
  });

  it('authzid: own bare JID accepted, anything else invalid-authzid', async () => {
    const repo = accounts({ juliet: 'pw' });
    const ok = mech('SCRAM-SHA-256', ctx(repo));
    const client = new ScramClient('SCRAM-SHA-256', 'juliet', 'pw', { gs2: 'n,a=juliet@example.com,' });
    assert.equal((await scramExchange(ok, client)).kind, 'success');
    for (const gs2 of ['n,a=romeo@example.com,', 'n,a=juliet@example.org,', 'n,a=juliet@example.com/balcony,', 'n,a=juliet,']) {
      const m = mech('SCRAM-SHA-256', ctx(repo));
      assertFailure(await m.step(new ScramClient('SCRAM-SHA-256', 'juliet', 'pw', { gs2 }).first()), 'invalid-authzid');
    }
  });

  it("'y' flag accepted (we offer no -PLUS), 'p=' refused", async () => {
    const repo = accounts({ juliet: 'pw' });
    const y = mech('SCRAM-SHA-1', ctx(repo));
    assert.equal((await scramExchange(y, new ScramClient('SCRAM-SHA-1', 'juliet', 'pw', { gs2: 'y,,' }))).kind, 'success');
    const p = mech('SCRAM-SHA-1', ctx(repo));
    assertFailure(await p.step(b('p=tls-exporter,,n=juliet,r=abc')), 'not-authorized');
  });

  it('wrong nonce or channel binding in client-final -> not-authorized', async () => {
    const repo = accounts({ juliet: 'pw' });
    for (const tamper of [{ nonce: 'abcdef' }, { cbind: Buffer.from('y,,').toString('base64') }]) {
      const m = mech('SCRAM-SHA-256', ctx(repo));
      const client = new ScramClient('SCRAM-SHA-256', 'juliet', 'pw');
      const serverFirst = challenge(await m.step(client.first()));
      assertFailure(await m.step(client.final(serverFirst, tamper)), 'not-authorized');
    }
  });

  it('malformed client-first messages -> malformed-request', async () => {
    const repo = accounts({ juliet: 'pw' });
    const cases = [
      'garbage',
      'n,,',
      'x,,n=juliet,r=abc',
      'n,,r=abc,n=juliet',
      'n,,n=juliet',
      'n,,n=juliet,r=',
      'n,,n=,r=abc',
      'n,,n=jul=41iet,r=abc',
      'n,b=x,n=juliet,r=abc',
      'n,,m=ext,n=juliet,r=abc',
      'n,,n=juliet,r=a\u00e9b',
    ];
    for (const msg of cases) {
      const m = mech('SCRAM-SHA-256', ctx(repo));
      assertFailure(await m.step(b(msg)), 'malformed-request');
    }
    const m = mech('SCRAM-SHA-256', ctx(repo));
    assertFailure(await m.step(Buffer.from([0x6e, 0x2c, 0x2c, 0xff, 0xfe])), 'malformed-request');
  });

  it('malformed client-final messages -> malformed-request', async () => {
    const repo = accounts({ juliet: 'pw' });
    const cases = (nonce: string) => [
      'garbage',
      `c=biws,r=${nonce}`,
      `r=${nonce},c=biws,p=AAAA`,
      `c=bi!ws,r=${nonce},p=${Buffer.alloc(32).toString('base64')}`,
      `c=biws,r=${nonce},p=not*base64`,
      `c=biws,r=${nonce},p=${Buffer.alloc(20).toString('base64')}`,
      `c=biws,p=${Buffer.alloc(32).toString('base64')}`,
    ];
    for (let i = 0; i < cases('').length; i++) {
      const m = mech('SCRAM-SHA-256', ctx(repo));
      const serverFirst = challenge(await m.step(new ScramClient('SCRAM-SHA-256', 'juliet', 'pw').first()));
      const nonce = serverFirst.split(',')[0]!.slice(2);
      const msg = cases(nonce)[i]!;
      assertFailure(await m.step(b(msg)), 'malformed-request');
      assertFailure(await m.step(b(msg)), 'malformed-request');
    }
  });

  it('no step after a failure or a success', async () => {
    const m = mech('SCRAM-SHA-256', ctx(accounts({ juliet: 'pw' })));
    assertFailure(await scramExchange(m, new ScramClient('SCRAM-SHA-256', 'juliet', 'nope')), 'not-authorized');
    assertFailure(await m.step(new ScramClient('SCRAM-SHA-256', 'juliet', 'pw').first()), 'malformed-request');
  });

  it('a store error -> temporary-auth-failure, never a throw', async () => {
    const broken = accounts({});
    broken.get = async () => {
      throw new Error('store down');
    };
    const m = mech('SCRAM-SHA-256', ctx(broken));
    assertFailure(await m.step(new ScramClient('SCRAM-SHA-256', 'juliet', 'pw').first()), 'temporary-auth-failure');
  });
});

describe('PLAIN', () => {
  const repo = accounts({ juliet: 'r0m30', 'ñandú': 'pässwörd' });

  it('correct password succeeds', async () => {
    const r = await mech('PLAIN', ctx(repo)).step(b('\0juliet\0r0m30'));
    assert.deepEqual(r, { kind: 'success', username: 'juliet' });
  });

  it('authcid is normalized like a localpart; unicode passwords work', async () => {
    const r = await mech('PLAIN', ctx(repo)).step(b('\0ÑANDÚ\0pässwörd'));
    assert.deepEqual(r, { kind: 'success', username: 'ñandú' });
  });

  it('authzid equal to the bare JID or the username is accepted', async () => {
    for (const authz of ['juliet@example.com', 'juliet', 'Juliet@Example.com']) {
      const r = await mech('PLAIN', ctx(repo)).step(b(`${authz}\0juliet\0r0m30`));
      assert.equal(r.kind, 'success', authz);
    }
  });

  it('another authzid -> invalid-authzid', async () => {
    for (const authz of ['romeo@example.com', 'juliet@example.org', 'juliet@example.com/res', 'romeo']) {
      assertFailure(await mech('PLAIN', ctx(repo)).step(b(`${authz}\0juliet\0r0m30`)), 'invalid-authzid');
    }
  });

  it('wrong password or unknown user -> not-authorized', async () => {
    assertFailure(await mech('PLAIN', ctx(repo)).step(b('\0juliet\0wrong')), 'not-authorized');
    assertFailure(await mech('PLAIN', ctx(repo)).step(b('\0romeo\0r0m30')), 'not-authorized');
    assertFailure(await mech('PLAIN', ctx(repo)).step(b('\0ju liet\0r0m30')), 'not-authorized');
  });

  it('malformed messages -> malformed-request', async () => {
    for (const msg of ['juliet', '\0juliet', '\0juliet\0', '\0\0r0m30', 'a\0juliet\0r0m30\0x']) {
      assertFailure(await mech('PLAIN', ctx(repo)).step(b(msg)), 'malformed-request');
    }
    assertFailure(await mech('PLAIN', ctx(repo)).step(Buffer.from([0, 0x6a, 0, 0xff])), 'malformed-request');
  });

  it("an empty initial response ('=') is malformed-request, not a request for a challenge", async () => {
    assertFailure(await mech('PLAIN', ctx(repo)).step(Buffer.alloc(0)), 'malformed-request');
  });

  it('empty <auth/> gets an empty challenge; one step only', async () => {
    const m = mech('PLAIN', ctx(repo));
    assert.equal(challenge(await m.step(null)), '');
    assert.equal((await m.step(b('\0juliet\0r0m30'))).kind, 'success');
    assertFailure(await m.step(b('\0juliet\0r0m30')), 'malformed-request');
  });
});

describe('decodeSaslData (RFC 6120 §6.4.2, RFC 4648 §4)', () => {
  it("reads '=' and nothing as no data, padded base64 as its bytes, anything else as null", () => {
    assert.deepEqual(decodeSaslData(''), Buffer.alloc(0));
    assert.deepEqual(decodeSaslData('='), Buffer.alloc(0));
    assert.deepEqual(decodeSaslData('AHUAcA=='), Buffer.from('\0u\0p'));
    assert.deepEqual(decodeSaslData('YWJj'), Buffer.from('abc'));
    for (const bad of ['AHUAcA', 'AAA', 'A===', 'AHUAcA=', 'YW Jj', 'YWJj\n', '!!!!', '==']) assert.equal(decodeSaslData(bad), null, bad);
  });
});

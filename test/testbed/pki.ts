import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** Paths of a PEM certificate and its private key. */
export interface CertPair {
  cert: string;
  key: string;
}

export interface CertRequest {
  /** File name stem under the PKI directory. */
  file: string;
  commonName: string;
  /** Subject organisations; Kubernetes reads them as the client's groups. */
  organisations?: string[];
  /** Subject alternative names for serving certificates, e.g. ["IP:127.0.0.1", "DNS:localhost"]. */
  altNames?: string[];
  usage: 'server' | 'client';
}

// EC keys: generated in milliseconds, which keeps start-up fast; Kubernetes accepts them everywhere.
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const days = '7';

/** The test bed's own certificate authority (openssl CLI), valid for a week. */
export class Pki {
  readonly ca: CertPair;

  private constructor(readonly dir: string) {
    this.ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  }

  static async create(dir: string): Promise<Pki> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const pki = new Pki(dir);
    await execa('openssl', [
      'req', '-x509', ...newKey, '-keyout', pki.ca.key, '-out', pki.ca.cert, '-days', days,
      '-subj', '/CN=app-of-apps-testbed-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ]);
    return pki;
  }

  /** Opens an existing PKI directory, e.g. in a test worker that signs client certificates. */
  static open(dir: string): Pki {
    return new Pki(dir);
  }

  async issue(req: CertRequest): Promise<CertPair> {
    const pair = { cert: join(this.dir, `${req.file}.crt`), key: join(this.dir, `${req.file}.key`) };
    const subject = [...(req.organisations ?? []).map((o) => `/O=${escapeRdn(o)}`), `/CN=${escapeRdn(req.commonName)}`].join('');
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${req.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(req.altNames?.length ? [`subjectAltName=${req.altNames.join(',')}`] : []),
    ];
    await execa('openssl', [
      'req', '-x509', ...newKey, '-keyout', pair.key, '-out', pair.cert, '-days', days,
      '-CA', this.ca.cert, '-CAkey', this.ca.key, '-subj', subject,
      ...ext.flatMap((e) => ['-addext', e]),
    ]);
    return pair;
  }

  /** An EC key pair for signing and verifying service-account tokens. */
  async serviceAccountKey(): Promise<CertPair> {
    const key = join(this.dir, 'sa.key');
    const pub = join(this.dir, 'sa.pub');
    await execa('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    await execa('openssl', ['ec', '-in', key, '-pubout', '-out', pub]);
    return { cert: pub, key };
  }

  async caBase64(): Promise<string> {
    return (await readFile(this.ca.cert)).toString('base64');
  }

  async writeFile(name: string, content: string): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, content, { mode: 0o600 });
    return path;
  }
}

// openssl's -subj syntax gives "/", "+" and "," meanings of their own.
function escapeRdn(value: string): string {
  if (!value || /[\n\r]/.test(value)) throw new Error(`certificate subject part ${JSON.stringify(value)} is empty or has a line break`);
  return value.replace(/[/+,\\]/g, (c) => `\\${c}`);
}

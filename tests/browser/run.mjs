// Runs the browser tests (node --test, one file at a time) against dpe over
// HTTPS, as users get it: makes a throw-away CA and a certificate for
// 127.0.0.1 and localhost, which dpe serves (see harness.mjs) and which the
// test processes trust for their own fetch() calls. Chromium is told to
// accept exactly that certificate's key.
//
//   node run.mjs [FILE…]     every *.test.mjs when none is named
import { execFileSync, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'dpe-browser-tls-'));
const openssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
  '-subj', '/CN=dpe browser tests CA']);
openssl(['req', ...ec, '-keyout', 'key.pem', '-out', 'cert.csr', '-subj', '/CN=localhost']);
writeFileSync(join(dir, 'cert.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
openssl(['x509', '-req', '-in', 'cert.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
  '-out', 'cert.pem', '-days', '2', '-extfile', 'cert.ext']);

const cert = new X509Certificate(readFileSync(join(dir, 'cert.pem')));
const spki = createHash('sha256')
  .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64');

const files = process.argv.slice(2);
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: {
    ...process.env,
    DPE_TEST_TLS_CERT: join(dir, 'cert.pem'),
    DPE_TEST_TLS_KEY: join(dir, 'key.pem'),
    DPE_TEST_TLS_SPKI: spki,
    NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
  },
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});

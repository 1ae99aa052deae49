import { encodeX25519PrivateKeyPem, encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../pki';
import { type CommandImpl, parseFlags, required } from '../command';
import { writeNewFiles } from './pki-files';

/** `gateway keygen`: nebula-cert keygen. An X25519 host key pair; the private key never leaves the host. */
export const keygenCommand: CommandImpl = {
  usage: `Usage: gateway keygen --out-key FILE --out-pub FILE
  --out-key string   Required: where to write the private key, mode 0600
  --out-pub string   Required: where to write the public key (give it to 'cert sign --in-pub')`,
  async run(argv, io) {
    const flags = parseFlags(argv, { 'out-key': { type: 'string' }, 'out-pub': { type: 'string' } });
    const outKey = required(flags, 'out-key');
    const outPub = required(flags, 'out-pub');
    const keyPair = generateX25519KeyPair();
    writeNewFiles([
      { what: 'key', path: outKey, content: encodeX25519PrivateKeyPem(keyPair.privateKey), mode: 0o600 },
      { what: 'public key', path: outPub, content: encodeX25519PublicKeyPem(keyPair.publicKey), mode: 0o644 },
    ]);
    io.stdout.write(`wrote ${outKey} and ${outPub}\n`);
    return 0;
  },
};

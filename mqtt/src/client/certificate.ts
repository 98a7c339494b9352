/**
 * Client certificates as the MQTT link reads them: the validity check made before every connect,
 * and the common name (the broker identity under `use_identity_as_username`).
 *
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { MqttError } from './errors.ts';

const text = (v: string | Uint8Array) => (typeof v === 'string' ? v : Buffer.from(v).toString('utf8'));

/**
 * Checks a client certificate's validity period against `now`.
 * @returns days left, or `undefined` when there is no certificate
 * @throws {@link MqttError} `MQTT_CERT_EXPIRED`, `MQTT_CERT_NOT_YET_VALID`, `MQTT_TLS_FILES` (not a certificate)
 */
export function checkClientCertificate(cert: string | Uint8Array | undefined, now: number): number | undefined {
  if (cert === undefined) return undefined;
  let x: X509Certificate;
  try {
    x = new X509Certificate(text(cert));
  } catch (e) {
    throw new MqttError('MQTT_TLS_FILES', `the client certificate is not a PEM/DER X.509 certificate: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  if (now > to)
    throw new MqttError(
      'MQTT_CERT_EXPIRED',
      `the client certificate (${x.subject.replace(/\n/g, ', ')}) expired on ${new Date(to).toISOString()}`,
    );
  if (now < from) {
    throw new MqttError(
      'MQTT_CERT_NOT_YET_VALID',
      `the client certificate is valid only from ${new Date(from).toISOString()} (this clock says ${new Date(now).toISOString()})`,
    );
  }
  return Math.floor((to - now) / 86_400_000);
}

/**
 * The common name of a certificate's subject — the name a broker with `use_identity_as_username`
 * gives the client.
 * @returns the CN, or `undefined` when there is no certificate, it does not parse, or its CN is absent or empty
 */
export function certificateCommonName(cert: string | Uint8Array | undefined): string | undefined {
  if (cert === undefined) return undefined;
  try {
    return /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(text(cert)).subject)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * `enigm broker check`: connects to an MQTT broker as one identity and probes its ACL against the
 * topic contract (`MQTT_ACL`), over `checkBroker` of `@enigm/mqtt`. Exit 0 when everything
 * observed matches the table, 1 on a mismatch (named) or when the broker cannot be reached or
 * refuses the identity (`MQTT_*` code), 2 for malformed options.
 * @module
 */
import { type AclProbe, type BrokerCheckReport, checkBroker, MqttError } from '@enigm/mqtt';
import { isHandle } from '@enigm/protocols/mqtt';
import { BROKER_HELP, brokerFromArgs, brokerOptions } from '../broker-options.ts';
import { type Command, EXIT, type Output, str, UsageError } from '../cli.ts';

function okText(p: AclProbe): string {
  return p.ok === undefined ? '?' : p.ok ? 'ok' : 'MISMATCH';
}

/** The probes as a text table: rule, topic, expected (per MQTT_ACL), observed, ok?, and how it was observed. */
export function renderCheckTable(probes: readonly AclProbe[]): string[] {
  const head = ['rule', 'topic', 'expected', 'observed', 'ok?', 'how'];
  const rows = probes.map((p) => [
    p.rule,
    `${p.access === 'publish' ? 'pub' : 'sub'} ${p.topic}`,
    p.expected,
    p.observed,
    okText(p),
    p.detail,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}

function header(r: BrokerCheckReport): string[] {
  const lines = [
    `broker       ${r.url}`,
    `MQTT         ${r.protocolVersion === 5 ? '5' : '3.1.1'}`,
    `identity     ${r.name} (probed as ${r.roles.join(' and ')})`,
  ];
  if (r.certificate) {
    lines.push(
      `certificate  ${r.certificate.subject}; expires ${r.certificate.validTo} (in ${r.certificate.daysLeft} day${r.certificate.daysLeft === 1 ? '' : 's'})`,
    );
  } else lines.push('certificate  none (no client certificate)');
  return lines;
}

const checkCmd: Command = {
  name: 'broker check',
  summary: 'connect to an MQTT broker as one identity and probe its ACL against the topic contract (MQTT_ACL)',
  help: `Usage: enigm broker check --broker URL [--ca F --cert F --key F] [--client NAME] [--handle H]
                          [--role host|backend] [--json]

Connects (reporting the URL, the MQTT version negotiated and the client certificate's subject and
days to expiry — an expired or not yet valid certificate is a clear MQTT_CERT_* error), then
probes the broker's ACL as this identity: for each rule of MQTT_ACL that applies to its role it
tries the subscription or the publish on a sample topic — its own handle or name, and, to prove
cross-device access is refused, another Key's handle (Keys) or another host's name (hosts).
The identity is the certificate's CN, else --client: a Key handle (eh1-…) is a Key; any other name
is probed as a host and a backend (as the embedded broker grants both) unless --role says which.

Subscriptions are judged by the SUBACK code (a broker that grants every SUBSCRIBE and checks read
access per message, as mosquitto's acl_file does, is tested by delivery, else "unknown");
publishes on MQTT 5 by the PUBACK reason code, on 3.1.1 "unknown" (3.1.1 cannot report refused
publishes). Probe publishes are empty, never retained, on a random handle and link no Key uses —
except a Key's own up/risk/status topics, where consumers see one empty message.

Options:
${BROKER_HELP}
  --handle H      a Key handle to use in the subscription probes (e.g. a real Key) instead of
                  a random one or +
  --role R        host or backend: probe a non-Key identity in that role only
  --json          the report as one JSON object

Exit status: 0 when everything observed matches MQTT_ACL ("unknown" is not a mismatch); 1 on a
mismatch (named on stderr), or when the broker cannot be reached or refuses the identity; 2 for
malformed options.

Example:
  enigm broker check --broker mqtts://broker.example:8883 --ca ca.pem --cert key.crt --key key.pem`,
  options: { ...brokerOptions, handle: { type: 'string' }, role: { type: 'string' } },
  async run(args, out: Output) {
    const broker = brokerFromArgs(args);
    const handle = str(args, 'handle');
    if (handle !== undefined && !isHandle(handle))
      throw new UsageError(`--handle must be a Key handle (eh1- and 26 of a-z, 2-7), got ${JSON.stringify(handle)}`);
    const role = str(args, 'role');
    if (role !== undefined && role !== 'host' && role !== 'backend')
      throw new UsageError(`--role must be host or backend, got ${JSON.stringify(role)}`);
    let report: BrokerCheckReport;
    try {
      report = await checkBroker({
        url: broker.url,
        ...(broker.tls ? { tls: broker.tls } : {}),
        ...(broker.client !== undefined ? { username: broker.client } : {}),
        ...(handle !== undefined ? { handle } : {}),
        ...(role !== undefined ? { roles: [role] } : {}),
      });
    } catch (e) {
      if (e instanceof MqttError && (e.code === 'MQTT_BAD_URL' || e.code === 'MQTT_BAD_INPUT')) throw new UsageError(e.message);
      throw e;
    }
    out.data(report);
    for (const l of header(report)) out.line(l);
    out.line('');
    for (const l of renderCheckTable(report.probes)) out.line(l);
    out.line('');
    const n = report.probes.length;
    out.line(
      `${n} probes: ${n - report.mismatches.length - report.unknown} as MQTT_ACL expects, ${report.unknown} unknown, ${report.mismatches.length} mismatch${report.mismatches.length === 1 ? '' : 'es'}`,
    );
    if (report.ok) return EXIT.ok;
    for (const m of report.mismatches)
      out.warn(
        `broker check: MISMATCH ${m.rule}: ${m.access} ${m.topic}: MQTT_ACL says ${m.expected}, the broker ${m.observed === 'allowed' ? 'allowed it' : 'refused it'} (${m.detail})`,
      );
    return EXIT.failure;
  },
};

/** The `enigm broker` commands. */
export const brokerCommands: Command[] = [checkCmd];

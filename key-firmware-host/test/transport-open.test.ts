import test from 'ava';
import { BleTransport } from '../src/transport/ble/ble.ts';
import { MqttTransport } from '../src/transport/mqtt.ts';
import { transportFromAddress } from '../src/transport/open.ts';
import { SerialTransport } from '../src/transport/serial.ts';
import { TcpTransport } from '../src/transport/tcp.ts';
import { TransportError } from '../src/transport/transport.ts';

const good: Array<
  [address: string, kind: typeof SerialTransport | typeof TcpTransport | typeof BleTransport, description: string]
> = [
  ['ble:Enigm-K0', BleTransport, 'ble:Enigm-K0'],
  ['ble://AA:BB:CC:DD:EE:FF', BleTransport, 'ble:AA:BB:CC:DD:EE:FF'],
  ['ble:c0de00000001', BleTransport, 'ble:c0de00000001'],
  ['tcp://127.0.0.1:7001', TcpTransport, 'tcp://127.0.0.1:7001'],
  ['tcp://localhost:1', TcpTransport, 'tcp://localhost:1'],
  ['tcp://key.local:65535', TcpTransport, 'tcp://key.local:65535'],
  ['tcp://127.0.0.1:7001/', TcpTransport, 'tcp://127.0.0.1:7001'],
  ['TCP://127.0.0.1:7001', TcpTransport, 'tcp://127.0.0.1:7001'],
  ['tcp://[::1]:7001', TcpTransport, 'tcp://[::1]:7001'],
  ['serial:///dev/ttyACM0', SerialTransport, 'serial:/dev/ttyACM0'],
  ['serial://COM3', SerialTransport, 'serial:COM3'],
  ['/dev/ttyACM0', SerialTransport, 'serial:/dev/ttyACM0'],
  ['/dev/pts/4', SerialTransport, 'serial:/dev/pts/4'],
  ['/tmp/enigm/key', SerialTransport, 'serial:/tmp/enigm/key'],
  ['./key.pty', SerialTransport, 'serial:./key.pty'],
  ['COM3', SerialTransport, 'serial:COM3'],
];

for (const [address, kind, description] of good) {
  test(`${address} → ${kind.name}`, (t) => {
    const transport = transportFromAddress(address);
    t.true(transport instanceof kind);
    t.is(transport.description, description);
    t.false(transport.isOpen);
  });
}

const bad: Array<[address: string, hint: RegExp]> = [
  ['', /empty/],
  ['   ', /empty/],
  [' /dev/ttyACM0', /spaces or control/],
  ['/dev/tty\n', /spaces or control/],
  ['tcp://127.0.0.1', /needs a port/],
  ['tcp://127.0.0.1:', /tcp:\/\/host:port/],
  ['tcp://:7001', /tcp:\/\/host:port/],
  ['tcp://127.0.0.1:0', /outside 1\.\.65535/],
  ['tcp://127.0.0.1:70000', /outside 1\.\.65535/],
  ['tcp://127.0.0.1:7001/path', /nothing after the port/],
  ['tcp://127.0.0.1:7001?x=1', /nothing after the port/],
  ['tcp://user@127.0.0.1:7001', /tcp:\/\/host:port/],
  ['tcp://127.0.0.1:port', /tcp:\/\/host:port/],
  ['serial://', /needs a device path/],
  ['zigbee://AA:BB:CC:DD:EE:FF', /unknown transport scheme "zigbee:\/\/"/],
  ['ble:', /needs a Key id, address or advertised name/],
  ['ble:a-name-that-is-longer-than-29-chars', /bad BLE Key address/],
  ['mqtt://broker:1883', /needs the Key handle/],
  ['mqtt://broker:1883/eh1-NOTAHANDLE', /must be a Key handle/],
  ['mqtts://user@broker:8883/eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa', /credentials do not belong in the URL/],
  ['mqtt://broker:99999/eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa', /outside 1\.\.65535/],
  ['http://127.0.0.1:7001', /unknown transport scheme "http:\/\/"/],
  ['127.0.0.1:7001', /write tcp:\/\/127\.0\.0\.1:7001/],
  ['localhost:7001', /write tcp:\/\/localhost:7001/],
  ['tcp:127.0.0.1:7001', /write tcp:\/\/127\.0\.0\.1:7001/],
];

for (const [address, hint] of bad) {
  test(`${JSON.stringify(address)} → TRANSPORT_BAD_ADDRESS`, (t) => {
    const error = t.throws(() => transportFromAddress(address), { instanceOf: TransportError });
    t.is(error?.code, 'TRANSPORT_BAD_ADDRESS');
    t.regex(error?.message ?? '', hint);
    t.regex(error?.message ?? '', /tcp:\/\/host:port/, 'the message lists the accepted forms');
  });
}

test('mqtt:// and mqtts:// name a Key through a broker; its description is broker/handle', (t) => {
  const m = transportFromAddress('mqtt://127.0.0.1:1883/eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa', { mqtt: { client: 'host-1' } });
  t.true(m instanceof MqttTransport);
  t.is(m.description, 'mqtt://127.0.0.1:1883/eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa');
  t.is((m as MqttTransport).client, 'host-1');
  t.is(
    transportFromAddress('mqtts://broker.example/eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa').description,
    'mqtts://broker.example:8883/eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa',
  );
  const e = t.throws(
    () =>
      transportFromAddress('mqtt://h:1/eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa', { mqtt: { client: 'eh1-aaaaaaaaaaaaaaaaaaaaaaaaab' } }),
    { instanceOf: TransportError },
  );
  t.regex(e?.message ?? '', /not a Key handle/);
});

test('baudRate reaches serial transports and is ignored for tcp', (t) => {
  const serial = transportFromAddress('/dev/ttyUSB0', { baudRate: 9600 });
  t.true(serial instanceof SerialTransport);
  t.is((serial as SerialTransport).baudRate, 9600);
  t.is((serial as SerialTransport).path, '/dev/ttyUSB0');
  t.is((transportFromAddress('serial:///dev/ttyUSB0') as SerialTransport).baudRate, 115200);
  t.true(transportFromAddress('tcp://127.0.0.1:7001', { baudRate: 9600 }) instanceof TcpTransport);
  t.throws(() => transportFromAddress('/dev/ttyUSB0', { baudRate: 0 }), { instanceOf: RangeError });
});

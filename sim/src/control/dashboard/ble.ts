/**
 * The dashboard's view of each Key's BLE face, from its state's `ble` (absent when the simulator
 * runs without BLE): whether it advertises, and each open GATT connection with its negotiated
 * ATT_MTU and PHY. `link` events of a `ble#N` link make the page fetch the Key's state again.
 * @module
 */
import type { BleKeyState } from '../../firmware/physical/types.ts';

/** Whether a `link` event is a BLE connection opening or closing. */
export function isBleLink(link: string): boolean {
  return link.startsWith('ble#');
}

const plural = (n: number) => `${n} connection${n === 1 ? '' : 's'}`;

/** Each link as `PHY · MTU n`, the same ones counted once (`2 × 2M · MTU 247`). */
function linksText(ble: BleKeyState): string {
  const counts = new Map<string, number>();
  for (const l of ble.links) {
    const k = `${l.phy} · MTU ${l.mtu}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => (n > 1 ? `${n} × ${k}` : k)).join(', ');
}

/** The table cell: `—` without BLE, `off` when it does not advertise, else the connections. */
export function bleCell(ble: BleKeyState | undefined): { text: string; cls: string } {
  if (!ble) return { text: '—', cls: '' };
  if (ble.connections > 0) return { text: `${ble.connections} · ${linksText(ble)}`, cls: 'ble-linked' };
  return ble.advertising ? { text: 'advertising', cls: 'ble-adv' } : { text: 'off', cls: '' };
}

/** The detail line: name, advertising, and every connection. */
export function bleDetail(ble: BleKeyState | undefined): string {
  if (!ble) return 'off (the simulator runs without --ble)';
  const adv = ble.advertising ? 'advertising' : 'not advertising';
  const links = ble.links.map((l) => `${l.link} ${l.phy} MTU ${l.mtu}`).join(', ');
  return `${ble.name} · ${adv} · ${plural(ble.connections)}${links ? `: ${links}` : ''}`;
}

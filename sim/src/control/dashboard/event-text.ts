/// <reference lib="dom" />
/**
 * The dashboard timeline's text of each event: metadata only (never a location of a dormant Key,
 * a payload or a key; emergency records by kind, sequence number and size).
 * @module
 */
import type { DeviceEvent } from '../../firmware/physical/types.ts';
import { emergencyEventText } from './emergency.ts';

/** One timeline line for an event (metadata only). */
export function eventText(e: DeviceEvent): string {
  switch (e.type) {
    case 'gesture':
      return `${e.gesture.kind}${'seconds' in e.gesture ? ` ${e.gesture.seconds} s` : ''} → ${e.outcome.action}${e.outcome.done ? '' : ` (refused: ${e.outcome.refused ?? ''})`}`;
    case 'lifecycle':
      return `${e.from} → ${e.to}`;
    case 'battery':
      return `${Math.round(e.level)}%${e.charging ? ' charging' : ''}${e.critical ? ' critical' : e.low ? ' low' : ''}`;
    case 'radio':
      return e.state;
    case 'usb':
      return e.attached ? 'attached' : 'detached';
    case 'power':
      return e.on ? 'on' : 'off';
    case 'gnss':
      return e.fix ? `fix ${e.fix.lat.toFixed(4)}, ${e.fix.lon.toFixed(4)}` : 'refused (GNSS off)';
    case 'pairing-window':
      return `open until ${(e.until / 1000).toFixed(1)} s`;
    case 'factory-reset':
      return e.phase;
    case 'output':
      return [e.led ? `LED ${e.led}` : '', e.haptic ? `haptic ${e.haptic}` : ''].filter(Boolean).join(' ');
    case 'frame':
      return `${e.direction} ${e.link} ${e.messageType ?? ''} ${e.bytes} B`;
    case 'link':
      return `${e.link} ${e.phase}`;
    case 'emergency':
    case 'emergency-record':
      return emergencyEventText(e);
    default:
      return '';
  }
}

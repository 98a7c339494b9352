/**
 * One-line descriptions of scenario steps, for reports and JUnit test case names.
 * @module
 */
import { formatDuration } from './duration.ts';
import { describeMatch } from './fields.ts';
import type { ScenarioStep } from './types.ts';

/**
 * What a step does, e.g. `key 0: gesture hold 8 s`, `wait 24 h`,
 * `key 0: expect state lifecycle = dormant within 2 s`.
 */
export function describeStep(step: ScenarioStep): string {
  const a = step.action;
  const k = `key ${step.key}: `;
  switch (a.type) {
    case 'gesture': {
      const g = a.gesture;
      const outcome = a.outcome?.length ? ` (outcome ${a.outcome.map(describeMatch).join(', ')})` : '';
      return `${k}gesture ${g.kind}${'seconds' in g ? ` ${g.seconds} s` : ''}${outcome}`;
    }
    case 'battery':
      return `${k}battery${a.level !== undefined ? ` level ${a.level} %` : ''}${a.charging !== undefined ? (a.charging ? ' charging' : ' not charging') : ''}`;
    case 'track':
      return `${k}GNSS track of ${a.fixes.length} fix${a.fixes.length === 1 ? '' : 'es'}`;
    case 'radio':
      return `${k}radio ${a.state}`;
    case 'usb':
      return `${k}USB ${a.attached ? 'attached' : 'detached'}`;
    case 'power':
      return `${k}power ${a.on ? 'on' : 'off'}`;
    case 'reboot':
      return `${k}reboot`;
    case 'ack':
      return `${k}contact c${a.contact} acknowledges the event`;
    case 'wait':
      return `wait ${formatDuration(a.ms)}`;
    case 'speed':
      return `speed ×${a.speed}`;
    case 'expect': {
      const within = a.withinMs > 0 ? ` within ${formatDuration(a.withinMs)}` : '';
      if (a.state) return `${k}expect state ${a.state.map(describeMatch).join(', ')}${within}`;
      const fields = a.event?.fields.length ? ` with ${a.event.fields.map(describeMatch).join(', ')}` : '';
      return `${k}expect event ${a.event?.type}${fields}${within}`;
    }
  }
}

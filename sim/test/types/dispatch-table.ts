/**
 * Type-level fixture (not run: `npm run typecheck` compiles it, as `tsconfig.json` includes
 * `sim/`): the firmware model's dispatch table is complete by construction (issue 8 item 4: "a
 * missing handler does not compile"). Each `@ts-expect-error` below must be an error; if the
 * table's type stops requiring a handler for every request name (for example `Partial<…>`, or a
 * `Record<string, …>`), the directive is unused and the typecheck fails.
 */
import type { RequestName } from '@enigm/protocols/messages';
import { HANDLERS } from '../../src/firmware/commands.ts';

/** The exact type of the real table, so loosening its annotation loosens this one too. */
type HandlerTable = typeof HANDLERS;

const { ping: _dropped, ...withoutPing } = HANDLERS;

// @ts-expect-error a table that omits one request name (`ping`) is not a HandlerTable
export const missingOneHandler: HandlerTable = withoutPing;

// @ts-expect-error a handler for another request (its body and response types differ) does not fit the slot
export const wrongHandler: HandlerTable = { ...HANDLERS, ping: HANDLERS.hello };

/** Every request name, and only request names, are keys of the table. */
export const keysAreRequestNames: (keyof HandlerTable)[] = [] as RequestName[];
export const requestNamesAreKeys: RequestName[] = [] as (keyof HandlerTable)[];

/** The complete table is one (the two errors above are about the missing or wrong handler). */
export const complete: HandlerTable = { ...withoutPing, ping: HANDLERS.ping };

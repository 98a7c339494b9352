// The Noble class of @stoprocent/noble without its index (which builds the platform's default
// bindings, native HCI on Linux, as soon as it is loaded): the one constructor the BLE transport
// needs, typed with the package's own declarations.
declare module '@stoprocent/noble/lib/noble.js' {
  import type { Noble } from '@stoprocent/noble';

  const NobleClass: new (bindings: unknown) => Noble;
  export default NobleClass;
}

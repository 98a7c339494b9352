// Prints the JavaScript stacks and open handles of Node diagnostic reports (one JSON file per
// argument), compactly: what a stuck ava worker was doing when .ci/run asked it (SIGUSR2, see
// --report-on-signal in package.json's ava.nodeArguments).
import { readFileSync } from 'node:fs';

for (const file of process.argv.slice(2)) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.log(`${file}: unreadable (${e.message})`);
    continue;
  }
  const h = report.header ?? {};
  console.log(`--- worker pid ${h.processId}: ${(h.commandLine ?? []).slice(-2).join(' ')}`);
  const js = report.javascriptStack ?? {};
  console.log(`  JS: ${js.message ?? ''}`);
  for (const line of (js.stack ?? []).slice(0, 30)) console.log(`    ${line}`);
  const kinds = {};
  for (const u of report.libuv ?? []) if (u.is_active) kinds[u.type] = (kinds[u.type] ?? 0) + 1;
  console.log(`  active libuv handles: ${JSON.stringify(kinds)}`);
  for (const u of (report.libuv ?? []).filter((x) => x.is_active && x.type === 'timer').slice(0, 5))
    console.log(`    timer: ${JSON.stringify(u)}`);
}

// Drives kecs's topology page (/ui) in Debian's chromium through playwright-core, one
// command at a time: tests/e2e/test_topology_ui.py writes a JSON command a line on stdin
// and reads one JSON answer a line on stdout, so the test can call kecs's API between
// steps and time what the page shows afterwards.
//
//   {"cmd":"open","url":...,"user":?,"password":?}   -> {"ok":true,"status":200}
//   {"cmd":"wait","selector":...,"state":"attached"|"detached","timeout":ms}
//   {"cmd":"count","selector":...,"count":n,"timeout":ms}   waits until exactly n match
//   {"cmd":"text","selector":...}                          -> {"ok":true,"text":...}
//   {"cmd":"click","selector":...}
//   {"cmd":"waitText","selector":...,"contains":...,"timeout":ms}
//   {"cmd":"screenshot","path":...}
//   {"cmd":"close"}
// Every answer has "ms": how long the step took (a wait's time until the page showed it).
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const executablePath = process.env.KECS_CHROMIUM || '/usr/bin/chromium';
let browser, context, page;

async function run(c) {
  switch (c.cmd) {
    case 'open': {
      browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
      const opts = { viewport: { width: 1440, height: 1000 } };
      if (c.user !== undefined) opts.httpCredentials = { username: c.user, password: c.password };
      context = await browser.newContext(opts);
      page = await context.newPage();
      page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
      const resp = await page.goto(c.url, { waitUntil: 'load' });
      return { status: resp ? resp.status() : 0 };
    }
    case 'wait':
      await page.locator(c.selector).first().waitFor({ state: c.state || 'attached', timeout: c.timeout || 5000 });
      return {};
    case 'count':
      await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length === n, [c.selector, c.count],
                                 { timeout: c.timeout || 5000, polling: 20 });
      return {};
    case 'waitText':
      await page.waitForFunction(([sel, want]) => {
        const e = document.querySelector(sel);
        return !!e && e.textContent.includes(want);
      }, [c.selector, c.contains], { timeout: c.timeout || 5000, polling: 20 });
      return {};
    case 'text':
      return { text: await page.locator(c.selector).first().textContent({ timeout: c.timeout || 5000 }) };
    case 'click':
      await page.locator(c.selector).first().click({ timeout: c.timeout || 5000 });
      return {};
    case 'screenshot':
      await page.screenshot({ path: c.path, fullPage: true });
      return {};
    case 'close':
      if (browser) await browser.close();
      browser = undefined;
      return {};
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const c = JSON.parse(line);
  const t0 = performance.now();
  let answer;
  try {
    answer = { ok: true, ...(await run(c)) };
  } catch (e) {
    answer = { ok: false, error: String(e && e.message ? e.message : e).split('\n')[0] };
  }
  answer.ms = Math.round(performance.now() - t0);
  process.stdout.write(JSON.stringify(answer) + '\n');
  if (c.cmd === 'close') break;
}
rl.close();
if (browser) await browser.close();
process.exit(0);

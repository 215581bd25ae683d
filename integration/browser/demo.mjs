// A person using the caddy-session demo in a real browser: headless Debian
// Chromium (/usr/bin/chromium) driven by playwright-core.
//
//   node demo.mjs <url> [--phase walkthrough|return] [--state FILE] [--screenshots DIR]
//
// walkthrough (the default) opens the page, reloads it, logs in without and
// then with "remember me", logs out in between, and saves the browser's
// cookies to --state. return opens a new browser with the cookies from
// --state (run it after restarting Caddy) and looks at the page once more.
//
// The script reports what it saw, it does not judge it: one JSON document on
// stdout, {"ok": true, "steps": [...], "screenshots": [...]}, where each step
// holds what the page showed, the sessionid cookie as the browser's cookie
// store has it, document.cookie as the page's JavaScript sees it (with a
// js_probe=1 cookie the script sets and removes around reading it), and the
// requests the step made (with the Cookie each sent and the Set-Cookie each
// got). integration/browser_test.go holds the expectations. Exit status 1
// (with "error" in the JSON) when a step could not be done at all, 2 for bad
// arguments. Progress goes to stderr.

import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const COOKIE = 'sessionid';

let opts;
try {
	opts = parseArgs({
		allowPositionals: true,
		options: {
			phase: { type: 'string', default: 'walkthrough' },
			state: { type: 'string' },
			screenshots: { type: 'string' },
		},
	});
} catch (err) {
	usage(err.message);
}
const [base] = opts.positionals;
const { phase, state, screenshots } = opts.values;
if (opts.positionals.length !== 1 || !/^https?:\/\//.test(base)) usage('want one http(s) URL');
if (phase !== 'walkthrough' && phase !== 'return') usage(`unknown phase ${phase}`);
if (phase === 'return' && !state) usage('--phase return needs --state');
const home = new URL('/', base).href;

const report = { ok: false, phase, url: home, browser: null, steps: [], screenshots: [] };
const log = (...a) => console.error('demo.mjs:', ...a);

const userDataDir = mkdtempSync(join(tmpdir(), 'caddy-session-chromium-'));
let context;
try {
	context = await chromium.launchPersistentContext(userDataDir, {
		executablePath: '/usr/bin/chromium',
		headless: true,
		args: [
			'--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
		],
		viewport: { width: 1000, height: 900 },
	});
	report.browser = context.browser()?.version() ?? null;
	const page = context.pages()[0] ?? (await context.newPage());
	page.setDefaultTimeout(10_000);
	page.setDefaultNavigationTimeout(10_000);
	const traffic = watchTraffic(page);

	if (phase === 'walkthrough') {
		await walkthrough(page, traffic);
		if (state) await context.storageState({ path: state });
	} else {
		await context.addCookies(JSON.parse(readFileSync(state, 'utf8')).cookies);
		await page.goto(home);
		await observe(page, traffic, 'return after Caddy restarted');
		await shoot(page, 'after-restart.png');
	}
	report.ok = true;
} catch (err) {
	report.error = String(err?.stack ?? err).replace(/\x1b\[[0-9;]*m/g, ''); // no terminal colours
	log(report.error);
} finally {
	await context?.close().catch(() => {});
	rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
process.exitCode = report.ok ? 0 : 1;

async function walkthrough(page, traffic) {
	await page.goto(home);
	await observe(page, traffic, 'first visit');
	for (const n of [1, 2]) {
		await page.reload();
		await observe(page, traffic, `reload ${n}`);
	}

	await logIn(page, 'alice', false);
	await observe(page, traffic, 'logged in, remember me unticked');
	await shoot(page, 'logged-in.png');

	await submit(page, 'Log out');
	await observe(page, traffic, 'logged out');

	await logIn(page, 'bob', true);
	await observe(page, traffic, 'logged in, remember me ticked');
	await shoot(page, 'remembered.png');
}

// logIn types a name into the form, sets the checkbox and submits.
async function logIn(page, name, remember) {
	await page.getByPlaceholder('Your name').fill(name);
	await page.getByLabel('Remember me for 30 days').setChecked(remember);
	await submit(page, 'Log in');
}

// submit clicks a form's button and waits for the page the POST's 303 leads to.
async function submit(page, button) {
	const loaded = page.waitForEvent('load');
	await page.getByRole('button', { name: button }).click();
	await loaded;
}

// observe records what the page shows and what the browser holds.
async function observe(page, traffic, step) {
	const text = async (sel) => ((await page.locator(sel).count()) ? (await page.locator(sel).first().textContent()).trim() : null);
	const visits = await text('#visits');
	const cookie = (await context.cookies(home)).find((c) => c.name === COOKIE) ?? null;
	const seen = {
		step,
		at: Date.now() / 1000,
		location: page.url(),
		visits: visits === null ? null : Number(visits),
		user: await text('#user'),
		notSignedIn: (await page.locator('#user-none').count()) > 0,
		sid: await text('#sid'),
		expiry: await text('#expiry'),
		cookie: cookie && {
			value: cookie.value,
			domain: cookie.domain,
			path: cookie.path,
			expires: cookie.expires,
			httpOnly: cookie.httpOnly,
			secure: cookie.secure,
			sameSite: cookie.sameSite,
		},
		// What the page's JavaScript sees, with a cookie of its own set for
		// the moment to show that document.cookie works at all.
		documentCookie: await page.evaluate(() => {
			document.cookie = 'js_probe=1; path=/';
			const seen = document.cookie;
			document.cookie = 'js_probe=; path=/; max-age=0';
			return seen;
		}),
		requests: await traffic.take(),
	};
	report.steps.push(seen);
	log(`${step}: visits ${seen.visits}, user ${seen.user}, cookie expires ${cookie?.expires ?? 'none'}`);
}

// watchTraffic notes every request the page's main frame made: method,
// path, the sessionid it sent, status and the Set-Cookie it got back.
function watchTraffic(page) {
	let pending = [];
	page.on('response', (resp) => {
		const req = resp.request();
		if (req.frame() !== page.mainFrame() || !req.isNavigationRequest()) return;
		pending.push(
			(async () => {
				const sent = (await req.allHeaders()).cookie ?? '';
				const got = (await resp.headersArray()).filter((h) => h.name.toLowerCase() === 'set-cookie').map((h) => h.value);
				const sentSession = sent.split(/;\s*/).find((kv) => kv.startsWith(COOKIE + '='));
				return {
					method: req.method(),
					path: new URL(req.url()).pathname,
					status: resp.status(),
					sentSessionid: sentSession ? sentSession.slice(COOKIE.length + 1) : null,
					setCookie: got,
				};
			})(),
		);
	});
	return {
		async take() {
			const done = await Promise.all(pending);
			pending = [];
			return done;
		},
	};
}

async function shoot(page, name) {
	if (!screenshots) return;
	const path = resolve(screenshots, name);
	await page.screenshot({ path, fullPage: true });
	report.screenshots.push(path);
}

function usage(msg) {
	console.error(`demo.mjs: ${msg}\nusage: node demo.mjs <url> [--phase walkthrough|return] [--state FILE] [--screenshots DIR]`);
	process.exit(2);
}

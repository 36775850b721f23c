// The chat page in a real browser: Debian's chromium driven by npm's
// playwright-core. Opens the page served by `edgeformer serve`, sends a
// prompt, watches the reply stream in (several DOM updates), checks it equals
// the same greedy chat request made directly, and saves a screenshot.
//
// usage: node browser_test.mjs --cli EDGEFORMER --model MODEL.gguf
//          --playwright NODE_MODULES_DIR --screenshot OUT.png [--chromium /usr/bin/chromium]
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

function fail(message) {
  console.error("FAIL browser_test: " + message);
  process.exit(1);
}
// Inside the run, failures throw so that the browser and server are stopped.
class CheckFailed extends Error {}
const check = (ok, message) => { if (!ok) throw new CheckFailed(message); };

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
for (const k of ["cli", "model", "playwright", "screenshot"]) if (!args[k]) fail(`--${k} is required`);
const chromiumPath = args.chromium || "/usr/bin/chromium";

// Missing tools fail the test (never skip it), saying how to get them.
if (!existsSync(chromiumPath)) fail(`${chromiumPath} not found: install Debian's chromium (apt-get install chromium)`);
let chromium;
try {
  chromium = createRequire(path.join(path.resolve(args.playwright), "noop.js"))("playwright-core").chromium;
} catch (e) {
  fail(`cannot load playwright-core from ${args.playwright} (${e.message}); install it with ` +
       "`npm install --prefix .cache/node playwright-core@1.65.1`");
}

function startServer() {
  return new Promise((resolve, reject) => {
    const proc = spawn(args.cli, ["serve", "-m", args.model, "--port", "0", "--threads", "1", "--slots", "2"],
                       { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    const timer = setTimeout(() => reject(new Error("server did not start:\n" + log)), 30000);
    proc.stderr.on("data", (d) => {
      log += d;
      const m = log.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1] });
      }
    });
    proc.on("exit", (code) => reject(new Error(`server exited (${code}):\n${log}`)));
  });
}

const prompt = "Tell me a story";
const maxTokens = 24;
const { proc, url } = await startServer().catch((e) => fail(e.message));
let browser;
try {
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--headless", "--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  await page.goto(url + "/");
  check((await page.title()) === "EdgeFormer chat", "unexpected page title " + (await page.title()));

  // Record every text the assistant message is given, as it is given.
  await page.evaluate(() => {
    window.__updates = [];
    new MutationObserver((records) => {
      for (const r of records) {
        const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
        if (!el || !el.classList.contains("assistant")) continue;
        for (const n of r.addedNodes) if (n.nodeType === 3 && n.data) window.__updates.push(n.data);
        if (r.type === "characterData" && r.target.data) window.__updates.push(r.target.data);
      }
    }).observe(document.getElementById("messages"), { childList: true, subtree: true, characterData: true });
  });
  await page.fill("#temperature", "0");
  await page.fill("#max-tokens", String(maxTokens));
  await page.fill("#prompt", prompt);
  await page.click("#send");
  await page.waitForFunction(() => /^done/.test(document.getElementById("status").textContent), null,
                             { timeout: 60000 });

  const shown = await page.textContent(".msg.assistant");
  const updates = await page.evaluate(() => window.__updates);
  check(shown, "no reply text appeared");
  check(updates.length >= 2, `the reply should stream in several DOM updates, saw ${updates.length}`);
  for (let i = 1; i < updates.length; i++) {
    check(updates[i].startsWith(updates[i - 1]), "streamed updates should grow the reply: " + JSON.stringify(updates));
  }
  check(updates[updates.length - 1] === shown, "the last update is not the shown text");

  // The page's reply equals the same greedy request made without the page.
  const direct = await (await fetch(url + "/v1/chat/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: prompt }], temperature: 0, max_tokens: maxTokens }),
  })).json();
  const want = direct.choices[0].message.content;
  check(shown === want, `page shows ${JSON.stringify(shown)}, the API gives ${JSON.stringify(want)}`);
  check((await page.textContent(".msg.user")) === prompt, "the user's message is not shown");
  check(external.length === 0, "the page loaded external resources: " + external.join(", "));

  mkdirSync(path.dirname(args.screenshot), { recursive: true });
  await page.screenshot({ path: args.screenshot, fullPage: true });
  console.log(`ok browser_test: ${updates.length} DOM updates, reply ${JSON.stringify(shown)}; screenshot ${args.screenshot}`);
} catch (e) {
  console.error("FAIL browser_test: " + (e instanceof CheckFailed ? e.message : e.stack || String(e)));
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  proc.kill("SIGTERM");
}
